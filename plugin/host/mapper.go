package host

import (
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// mapper is a Plugin as its remote fops see it: where the connection
// comes from, how its inodes and fds become gfids and handles.
type mapper Plugin

func (m *mapper) Client() (pb.XlatorClient, error) { return (*Plugin)(m).client() }
func (m *mapper) Loc(l *xlator.Loc) *pb.Loc        { return (*Plugin)(m).loc(l) }
func (m *mapper) FD(fd *xlator.FD) transport.FD    { return (*Plugin)(m).fd(fd) }
func (m *mapper) Done(handle uint64)               { (*Plugin)(m).done(handle) }
func (m *mapper) Opened(*xlator.FD, uint64)        {}
func (m *mapper) Arena() *transport.Arena          { return (*Plugin)(m).shm() }
func (m *mapper) Dir() int                         { return transport.ToPlugin }
