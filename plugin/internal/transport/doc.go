// Package transport is the plugin protocol's shared-memory transport and
// its values: the arena a host makes for each plugin process (a sealed
// memfd of data slots, shm.go), the layout of its header and call rings
// (layout.go, the one description PROTOCOL.md's tables are generated
// from), the rings' call state machine and futexes (ring.go), the unary
// calls of the Xlator service carried through them as their protobuf
// messages (ringconn.go, NewConn), readv and writev with their data in slots
// or in the host's iobuf memory (ringfops.go, hostmem.go), the checks the
// host makes of everything it reads there (breach.go), and the protocol's
// versions, handshake values and bounds (protocol.go).
//
// PROTOCOL.md, beside this file, is the protocol written for a plugin in
// another language; TestProtocolDoc holds its tables to this package and
// TestProtocolDocTests the tests it names to the tests under plugin/.
//
// It imports only the generated protocol (plugin/proto) and the runtime:
// what a ring's worker runs is a Handler, which package rpc's Server is;
// what calls through a ring is package rpc's Remote. Both sides use it:
// the host (package host's Plugin) makes the arena and serves the toHost
// ring, a plugin (package plugin's Serve) maps it and serves the toPlugin
// ring.
package transport
