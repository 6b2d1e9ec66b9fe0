// Package plugin runs translators out of process, with hashicorp/go-plugin.
//
// A plugin is a binary whose main calls Serve with an xlator.Type written
// exactly as an in-process translator: embed xlator.Base, override the fops
// it changes, wind the rest to its children. In the host, a volume of type
// "plugin" (Register) names the binary with option path (and optionally
// its sha256); its subvolumes stay in the host and become the plugin's
// children. The plugin's other options are declared by the binary itself.
//
// # Packages
//
// Read them one at a time, top down; each imports only those below it.
//
//   - plugin (this package): what a plugin's author imports, Serve and the
//     plugin's side of the protocol (serve.go, proxy.go), and, for now,
//     the host's translator of type "plugin" (Register, Host: host.go,
//     process.go, deadline.go, options.go, schema.go).
//   - plugin/internal/rpc: what both sides share above the transport:
//     the Xlator service served over a local graph (Server), the
//     translator whose fops call the far side (Remote), message
//     conversions, handle tables, gRPC options, the zap/hclog bridge.
//   - plugin/internal/transport: the shared-memory arena and its call
//     rings, the host's checks of them, the protocol's values; and
//     PROTOCOL.md, the protocol written down.
//   - plugin/proto: the generated gRPC services and messages
//     (xlator.proto; go generate in that directory).
//
// # Schemas
//
// Loading a volfile never runs a plugin binary: validating an untrusted
// volfile must be safe. So a plugin publishes its schema beside its
// binary, a JSON file (SchemaFile) that the trusted binary writes when run
// once with SchemaFlag, naming its own sha256. The loader
// (xlator.Type.SchemaFor) reads the binary, checks it against the
// volume's sha256 when given, and uses the published schema only if it
// was written by that very binary: a plugin volume is then checked with
// the same file:line:col diagnostics as a built-in one. Without such a
// schema the volume gets a warning, and its plugin options are checked at
// start. At start (Host.Init, after the sha256 check) the host asks the
// running plugin for its schema, the authority, and decodes the volume's
// options as written (VolumeSpec.Literals) against it, with the volume,
// option and file:line:col in every error; a published schema for that
// binary that does not say the same fails the start, since the volfile
// was checked against it.
//
// # Processes and graphs
//
// The host translator (Host) starts the binary at Init (go-plugin's
// handshake: magic cookie, the protocol version, picked by the plugin
// from those the host speaks, optional SHA-256 check),
// checks the volume's options against the schema it declares,
// serves a callback service for its children on a go-plugin broker stream
// (one gRPC server per plugin process), and sends Init over the protocol.
// The plugin then builds a small graph of its own: the translator on top
// and, below it, one proxy per host child, a leaf whose fops call the
// callback service. So a plugin winds fops down exactly as an in-process
// translator does; the proxies carry them back into the host.
//
// # Protocol
//
// PROTOCOL.md (plugin/internal/transport) is the protocol, written for a plugin in another language:
// handshake, services, identities, the shared memory's layout, the call
// state machine, the host's checks, deadlines, versions. Its tables are
// generated from the code (transport's layout.go is the one description of the
// shared memory and of the ring's method numbers) and TestProtocolDoc
// holds them to it. A host speaks protocol versions MinProtocolVersion
// to ProtocolVersion, a plugin one; a host refuses a plugin of another
// version with ErrProtocolVersion (TestProtocolVersions).
//
// plugin/proto defines two gRPC services. Xlator carries every fop of
// xlator.Fops plus Release, Releasedir and Forget; the plugin serves it
// for its translator and the host for the plugin's children. Control
// carries the lifecycle: Schema, Init, Fini, Notify (children's child-up
// and child-down), Stats (the plugin's translator state, mem-pools and
// iobuf pool, which Host.Dump shows under the volume), Watch and Ping.
// Nothing in Xlator is specific to plugins, so the same service can carry
// fops between machines: inodes travel as gfids (plus parent gfid and name
// so the far side can link them), open files as handles that the side
// owning the fd allocated and maps back to its *xlator.FD, and every
// request carries the caller's credentials. Fop errors travel as errnos;
// a transport failure becomes ENOTCONN.
//
// # Data
//
// Fops go through call rings in a shared-memory arena (a memfd the host
// maps and passes to the plugin as fd 3; transport's ring.go), not gRPC: a call is a
// few stores and at most one futex wake-up each way, and a host thread
// polling for its reply runs the calls the plugin winds back to the host
// while serving it. Readv and writev have call layouts of their own;
// every other Xlator call travels as the same protobuf messages gRPC
// would carry, marshalled into the call (transport's ringconn.go, a
// grpc.ClientConnInterface under the generated client). Writev
// data in the host's iobufs is read in place: a graph with a plugin has a
// Shared iobuf pool whose memfd the plugin gets read-only, sealed against
// writes, as fd 4 (transport's hostmem.go); other payloads go in the arena's 1 MiB slots (shm.go):
// one copy in, read in place on the far side, passed on without a copy
// when a plugin winds the same data on. Larger payloads, or all of them
// with shm-size = 0, ride in gRPC messages, whose size limit is lifted on
// both sides; the HTTP/2 windows are widened so a large message is not
// throttled by flow control.
//
// The arena is optional for a plugin: one that cannot map it (or will
// not) says so in its answer to Init, and the host then names none of
// its slots, lends none of its memory and makes no ring call to it:
// every fop and its data go in gRPC messages, slower and as correct
// (TestNoArena), and Host.Dump says "arena = off: ..." and why.
//
// # Failure
//
// When the plugin dies, fops in flight and new ones fail with ENOTCONN,
// Host sends child-down to its parents, restarts the plugin with doubling
// back-off (go-plugin never restarts a plugin by itself) and sends child-up
// once it runs again. fds opened before the restart keep working: the new
// plugin makes its fd for a handle at the first fop on it.
//
// A plugin that breaks the protocol is handled as one that died: the host
// checks every value it reads from the shared memory, and the first that
// is wrong (garbage in a ring, a reply longer than the request, a slot,
// offset or token the plugin was not given) has the process killed and
// restarted (transport's breach.go). Nothing the plugin does to the memfds makes the
// host fault: their sizes are sealed. What a plugin may make the host
// keep for it is bounded: host iobufs kept past a writev (transport's hostmem.go), fds
// it opened (Host.Dump's plugin-fds), the size of what it asks for.
//
// # Deadlines and interrupts
//
// A host's call to the plugin carries its caller's context
// (xlator.Call.Ctx): a FUSE request's, cancelled when the kernel
// interrupts the request (a signal to the waiting thread, the caller
// killed), or an API caller's (api.Volume.WithContext). A caller whose
// context ends stops waiting at once: ECANCELED, which the FUSE bridge
// answers EINTR, or ETIMEDOUT for a deadline (TestDeadlineThroughAPI,
// TestDeadlineFUSE). Every call also has a deadline, the volume's
// call-timeout (60 s unless set): past it the caller gets ETIMEDOUT and
// the host pings the plugin; a plugin that does not answer within half of
// call-timeout, at most 5 s, is killed and restarted as after a crash,
// its calls in flight failing with ENOTCONN, and one that answers keeps
// running (TestCallTimeout). So a caller of a hung plugin is free within
// call-timeout, and the plugin's other fops and every other path work
// meanwhile. The context does not cross into the plugin: its translator
// runs a call the host gave up on to its end, and the call's ring slot,
// with the data it carries and the host memory a writev lent, stays the
// plugin's until then or until it dies (TestRingAbandon,
// TestRingAbandonHostData, TestDeadlineThroughAPI).
//
// # Logs
//
// The plugin logs with zap as usual; Serve makes its logger write JSON
// lines in the layout go-plugin parses as hclog (@level, @message,
// @timestamp), and the host gives go-plugin an hclog.Logger that forwards
// into the volume's zap logger, so the plugin's lines appear under the
// volume's name at their own level.
package plugin
