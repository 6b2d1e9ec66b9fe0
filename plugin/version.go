package plugin

import "github.com/xstack/xstack/plugin/internal/transport"

// The protocol's values a plugin's author may need, declared (and
// documented for PROTOCOL.md) in package transport.
const (
	// ProtocolVersion is the version of the plugin protocol this
	// package's plugins speak. A host speaks it and the versions back to
	// host.MinProtocolVersion.
	ProtocolVersion = transport.ProtocolVersion
	// SchemaFlag is the one argument that makes a plugin binary print
	// its schema instead of serving (Serve handles it); the host never
	// passes it.
	SchemaFlag = transport.SchemaFlag
)
