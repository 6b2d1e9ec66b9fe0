package transport_test

import (
	"syscall"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// The transport's tests serve its rings with the real fop server, which
// imports this package: an external test file hands it to them.
func init() {
	transport.NewTestServer = func(g *xlator.Graph, a *transport.Arena) transport.Handler {
		return rpc.NewServer(&testEndpoint{g: g, a: a})
	}
}

// testEndpoint serves the Xlator service over a graph's top, making an
// anonymous fd for every request that names one.
type testEndpoint struct {
	g *xlator.Graph
	a *transport.Arena
}

func (e *testEndpoint) Graph() *xlator.Graph                             { return e.g }
func (e *testEndpoint) Target(*pb.Header) (xlator.Xlator, error)         { return e.g.Top(), nil }
func (e *testEndpoint) NewInode(g *xlator.Graph, _ uint64) *xlator.Inode { return g.Inodes().New() }
func (e *testEndpoint) Opened(*xlator.FD, *pb.Fd) uint64                 { return 0 }
func (e *testEndpoint) Linked(*xlator.Inode)                             {}
func (e *testEndpoint) FrontEnd() bool                                   { return false }
func (e *testEndpoint) Release(uint64, bool)                             {}
func (e *testEndpoint) Forget([][]byte)                                  {}

func (e *testEndpoint) FD(g *xlator.Graph, pf *pb.Fd, in *xlator.Inode) (*xlator.FD, error) {
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

func (e *testEndpoint) Arena() *transport.Arena {
	if e.a.Acquire() {
		return e.a
	}
	return nil
}
