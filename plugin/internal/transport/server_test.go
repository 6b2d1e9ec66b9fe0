package transport_test

import (
	"github.com/xstack/xstack/plugin/internal/rpc/rpctest"
	"github.com/xstack/xstack/plugin/internal/transport"
	"github.com/xstack/xstack/xlator"
)

// The transport's tests serve their rings with the real fop server, which
// imports this package: an external test file hands it to them.
func init() {
	transport.NewTestServer = func(g *xlator.Graph, a *transport.Arena) transport.Handler {
		return rpctest.NewServer(g, a)
	}
}
