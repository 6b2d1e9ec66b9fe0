package plugin

import (
	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
)

// The protocol's values a plugin's author or a host's user may need,
// declared (and documented for PROTOCOL.md) in package transport.
const (
	// ProtocolVersion is the version this package's plugins speak and
	// the newest its hosts speak.
	ProtocolVersion = transport.ProtocolVersion
	// MinProtocolVersion is the oldest version a host serves.
	MinProtocolVersion = transport.MinProtocolVersion
	// SchemaFlag is the one argument that makes a plugin binary print
	// its schema instead of serving (Serve handles it); the host never
	// passes it.
	SchemaFlag = transport.SchemaFlag
	// DefaultCallTimeout is call-timeout when the volume does not set it.
	DefaultCallTimeout = transport.DefaultCallTimeout
)

// ErrProtocolVersion is returned (wrapped, naming the binary, its version
// and the host's) when a plugin speaks a version of the protocol the
// host does not.
var ErrProtocolVersion = rpc.ErrProtocolVersion
