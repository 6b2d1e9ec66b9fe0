package transport

import "time"

// The protocol's values: its versions, the handshake's, the bounds each
// side holds the other to. PROTOCOL.md's tables are generated from these
// declarations and their comments (TestProtocolDoc); layout.go holds the
// shared memory's.

// The protocol's versions. A plugin speaks one version, the one it was
// built with; a host speaks MinProtocolVersion to ProtocolVersion and
// offers them all at the handshake (go-plugin's VersionedPlugins: the
// PLUGIN_PROTOCOL_VERSIONS environment variable), the plugin answers
// with its own, and a host that does not speak it refuses the plugin
// with ErrProtocolVersion. PROTOCOL.md says what each version changed.
//
// A change that an older peer would misread takes a new version: a
// field of shared memory moved or given a meaning, a ring method
// number, a message field whose absence means something else, a rule of
// the call state machine. The host keeps serving the version before when
// that is cheap, and MinProtocolVersion says how far back it goes.
const (
	// ProtocolVersion is the version this package's plugins speak and
	// the newest its hosts speak: 6, the Lseek, Lk, Tmpfile and
	// CopyFileRange fops (ring methods 33 to 36) and the lock owner in
	// every call's header.
	ProtocolVersion = 6
	// MinProtocolVersion is the oldest version a host serves: 4, the
	// same shared memory and method numbers, Init answered with ErrRsp;
	// the host takes such a plugin to have mapped the arena when its
	// ring is ready.
	MinProtocolVersion = 4
)

// The magic cookie: go-plugin starts a plugin with cookieKey=cookieValue
// in its environment, and a plugin binary started without it (by hand)
// says so and exits instead of waiting for a host that is not there.
const (
	CookieKey   = "XSTACK_PLUGIN"                               // the magic cookie's environment variable
	CookieValue = "xlator-b5f1c0de-4e9a-4d7b-9c55-6f0a1e2d3c4b" // its value
)

// The descriptors and environment variables the host passes a plugin
// besides go-plugin's.
const (
	// ShmFD is the descriptor the plugin finds the arena on, read-write,
	// when the host offers one.
	ShmFD = 3
	// ShmEnv is set to "3" (ShmFD) when the host offers an arena.
	ShmEnv = "XSTACK_PLUGIN_SHM"
	// HostMemFD is the descriptor the plugin finds the host's iobuf
	// memory on, read-only, when the host shares it.
	HostMemFD = 4
	// HostMemEnv is set to "4:SIZE" (HostMemFD, the memory's size in
	// bytes) when the host shares its iobuf memory.
	HostMemEnv = "XSTACK_PLUGIN_HOSTMEM"
)

// PluginName is the one plugin a binary serves, in go-plugin's plugin set.
const PluginName = "xlator"

// What a plugin can make the host allocate for its messages is bounded.
const (
	// MaxIO bounds the size of a readv a plugin may ask of the host (16
	// times the largest the host's front ends send): a larger one fails
	// with EINVAL instead of making a child allocate it.
	MaxIO = 16 << 20
	// MaxCallback bounds every gRPC message the host receives from a
	// plugin: a request to its callback service, a reply to its calls.
	MaxCallback = MaxIO + 1<<20
	// MaxCallbackStreams bounds the calls the callback service runs at
	// once by gRPC.
	MaxCallbackStreams = ringWorkers
)

// DefaultCallTimeout is call-timeout when the volume does not set it: a
// caller of a hung plugin is free within a minute (GlusterFS frees the
// clients of a hung brick within its 42 s ping-timeout).
const DefaultCallTimeout = 60 * time.Second

// PingWait is the longest a plugin may take to answer the ping that
// follows a call that ran out of call-timeout; with a short call-timeout,
// half of it.
const PingWait = 5 * time.Second

// SchemaFlag is the one argument that makes a plugin binary print its
// schema instead of serving (Serve handles it); the host never passes it.
// A plugin's author or installer publishes the schema by running the
// trusted binary with it once, after the last change to the binary:
//
//	checksum -xstack-schema > checksum.schema.json
const SchemaFlag = "-xstack-schema"
