package plugin

import (
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// hostMapper is a Host as its remote fops see it: where the connection
// comes from, how its inodes and fds become gfids and handles.
type hostMapper Host

func (m *hostMapper) Client() (pb.XlatorClient, error) { return (*Host)(m).client() }
func (m *hostMapper) Loc(l *xlator.Loc) *pb.Loc        { return (*Host)(m).loc(l) }
func (m *hostMapper) FD(fd *xlator.FD) transport.FD    { return (*Host)(m).fd(fd) }
func (m *hostMapper) Done(handle uint64)               { (*Host)(m).done(handle) }
func (m *hostMapper) Opened(*xlator.FD, uint64)        {}
func (m *hostMapper) Arena() *transport.Arena          { return (*Host)(m).shm() }
func (m *hostMapper) Dir() int                         { return transport.ToPlugin }
