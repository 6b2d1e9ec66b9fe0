// Package rpctest serves the Xlator service over a local graph for the
// tests of the plugin's packages, with none of a host's or a plugin's
// bookkeeping: the tests of rpc call its server directly, and those of
// transport serve their rings with it (transport cannot import rpc, which
// imports transport, except from an external test file).
package rpctest

import (
	"syscall"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// NewServer returns the Xlator service over g's top, with arena a (nil:
// none) for the data requests name. It serves every request with g's top,
// makes an anonymous fd for every request that names one (linking an
// inode for a gfid g does not know), and keeps no handles.
func NewServer(g *xlator.Graph, a *transport.Arena) *rpc.Server {
	return rpc.NewServer(&endpoint{g: g, a: a})
}

type endpoint struct {
	g *xlator.Graph
	a *transport.Arena
}

var _ rpc.Endpoint = (*endpoint)(nil)

func (e *endpoint) Graph() *xlator.Graph                             { return e.g }
func (e *endpoint) Target(*pb.Header) (xlator.Xlator, error)         { return e.g.Top(), nil }
func (e *endpoint) NewInode(g *xlator.Graph, _ uint64) *xlator.Inode { return g.Inodes().New() }
func (e *endpoint) Opened(*xlator.FD, *pb.Fd) uint64                 { return 0 }
func (e *endpoint) Linked(*xlator.Inode)                             {}
func (e *endpoint) FrontEnd() bool                                   { return false }
func (e *endpoint) Release(uint64, bool)                             {}
func (e *endpoint) Forget([][]byte)                                  {}

func (e *endpoint) FD(g *xlator.Graph, pf *pb.Fd, in *xlator.Inode) (*xlator.FD, error) {
	if in == nil {
		gf := rpc.GfidOf(pf.Gfid)
		if gf.IsZero() {
			return nil, syscall.EBADF
		}
		t := g.Inodes()
		if in = t.Find(gf); in == nil {
			ia := xlator.Iatt{Gfid: gf, Mode: pf.Type}
			in = t.Link(nil, nil, "", &ia)
		}
		defer in.Unref()
	}
	return g.NewFD(in, pf.Flags, pf.Pid, pf.Dir), nil
}

func (e *endpoint) Arena() *transport.Arena {
	if e.a.Acquire() {
		return e.a
	}
	return nil
}
