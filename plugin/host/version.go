package host

import (
	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
)

// The protocol's values a host's user may need, declared (and documented
// for PROTOCOL.md) in package transport.
const (
	// ProtocolVersion is the newest version of the plugin protocol a
	// host speaks, the one package plugin's plugins speak.
	ProtocolVersion = transport.ProtocolVersion
	// MinProtocolVersion is the oldest version a host serves.
	MinProtocolVersion = transport.MinProtocolVersion
	// DefaultCallTimeout is call-timeout when the volume does not set it.
	DefaultCallTimeout = transport.DefaultCallTimeout
)

// ErrProtocolVersion is returned (wrapped, naming the binary, its version
// and the host's) when a plugin speaks a version of the protocol the
// host does not.
var ErrProtocolVersion = rpc.ErrProtocolVersion
