package transport

import "github.com/xstack/xstack/xlator"

// NewTestServer returns a Handler serving the Xlator service over g's top
// with a's slots, making an anonymous fd for every request that names
// one; set by server_test.go, an external test file, since the server
// (package rpc) imports this package.
var NewTestServer func(g *xlator.Graph, a *Arena) Handler
