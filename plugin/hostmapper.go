package plugin

import (
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// hostMapper is a Host as its remote fops see it: where the connection
// comes from, how its inodes and fds become gfids and handles.
type hostMapper Host

func (m *hostMapper) client() (pb.XlatorClient, error) { return (*Host)(m).client() }
func (m *hostMapper) loc(l *xlator.Loc) *pb.Loc        { return (*Host)(m).loc(l) }
func (m *hostMapper) fd(fd *xlator.FD) fdDesc          { return (*Host)(m).fd(fd) }
func (m *hostMapper) done(handle uint64)               { (*Host)(m).done(handle) }
func (m *hostMapper) opened(*xlator.FD, uint64)        {}
func (m *hostMapper) shm() *arena                      { return (*Host)(m).shm() }
func (m *hostMapper) dir() int                         { return toPlugin }
