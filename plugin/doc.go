// Package plugin is what a plugin's author imports: Serve, which runs a
// translator out of process, with hashicorp/go-plugin.
//
// A plugin is a binary whose main calls Serve with an xlator.Type written
// exactly as an in-process translator: embed xlator.Base, override the fops
// it changes, wind the rest to its children. In the host, a volume of type
// "plugin" (package plugin/host) names the binary with option path (and
// optionally its sha256); its subvolumes stay in the host and become the
// plugin's children. The plugin's other options are declared by the
// binary itself, in the schema Serve prints when the binary is run with
// SchemaFlag; publish it beside the binary (host.SchemaFile), so that a
// volfile naming the plugin is checked without running it.
//
// # Packages
//
// Read them one at a time, in this order. The SDK and the host import
// rpc, transport and proto, never each other; rpc imports transport and
// proto; transport imports proto.
//
//   - plugin (this package, the SDK): Serve and the plugin's side of the
//     protocol: the Control service and the plugin's graph (serve.go),
//     the proxies standing for the host's children (proxy.go).
//   - plugin/host: the host's side, the translator of type "plugin"
//     (Plugin, Register): it starts, watches, restarts and pings the
//     process, serves the callback service, checks the plugin's options
//     and publishes its statistics. Its tests are the whole system's.
//   - plugin/internal/rpc: what both sides share above the transport:
//     the Xlator service served over a local graph (Server), the
//     translator whose fops call the far side (Remote), message
//     conversions, handle tables, the schema file's format, gRPC options
//     and go-plugin's glue, the zap/hclog bridge; rpc/rpctest, the
//     Xlator service over a bare graph for the tests of rpc and transport.
//   - plugin/internal/transport: the shared-memory arena and its call
//     rings, the host's checks of them, the protocol's values; and
//     PROTOCOL.md, the protocol written down.
//   - plugin/proto: the generated gRPC services and messages
//     (xlator.proto; go generate ./plugin/proto).
//
// # The plugin's graph
//
// At Init, sent by the host once the process runs, the plugin builds a
// small graph of its own: the translator on top and, below it, one proxy
// per host child, a leaf whose fops call the host's callback service. So a
// plugin winds fops down exactly as an in-process translator does; the
// proxies carry them back into the host. The proxies pass on the host
// children's child-up and child-down. The translator's options are the
// volume's, decoded by the host against the schema the running plugin
// declares; its statistics (private state, mem-pools, iobuf pool) appear
// in the host's statedump under the volume, prefixed "plugin.".
//
// A call the host gives up on (its caller's context ended, or
// call-timeout passed) still runs to its end in the plugin: the context
// does not cross. A plugin that does not answer a ping within half of
// call-timeout is killed and restarted; after a restart the translator
// sees fops on fds it never opened, as GlusterFS's anonymous fds. See
// package plugin/host for the host's side of both.
//
// # Protocol
//
// PROTOCOL.md (in plugin/internal/transport) is the protocol, written for
// a plugin in another language: handshake, services, identities, the
// shared memory's layout, the call state machine, the host's checks,
// deadlines, versions. Its tables are generated from the code
// (transport's layout.go is the one description of the shared memory and
// of the ring's method numbers) and TestProtocolDoc holds them to it. A
// plugin built with this package speaks ProtocolVersion alone; a host
// speaks host.MinProtocolVersion to host.ProtocolVersion and refuses a
// plugin of another version with host.ErrProtocolVersion
// (TestProtocolVersions).
//
// plugin/proto defines two gRPC services. Xlator carries every fop of
// xlator.Fops plus Release, Releasedir and Forget; the plugin serves it
// for its translator and the host for the plugin's children. Control
// carries the lifecycle: Schema, Init, Fini, Notify (children's child-up
// and child-down), Stats (the plugin's translator state, mem-pools and
// iobuf pool, which host.Plugin.Dump shows under the volume), Watch and
// Ping. Nothing in Xlator is specific to plugins, so the same service can
// carry fops between machines: inodes travel as gfids (plus parent gfid
// and name so the far side can link them), open files as handles that the
// side owning the fd allocated and maps back to its *xlator.FD, and every
// request carries the caller's credentials. Fop errors travel as errnos;
// a transport failure becomes ENOTCONN.
//
// # Data
//
// Fops go through call rings in a shared-memory arena (a memfd the host
// maps and passes to the plugin as fd 3; transport's ring.go), not gRPC:
// a call is a few stores and at most one futex wake-up each way, and a
// host thread polling for its reply runs the calls the plugin winds back
// to the host while serving it. Readv and writev have call layouts of
// their own; every other Xlator call travels as the same protobuf
// messages gRPC would carry, marshalled into the call (transport's
// ringconn.go, a grpc.ClientConnInterface under the generated client).
// Writev data in the host's iobufs is read in place: a graph with a
// plugin has a Shared iobuf pool whose memfd the plugin gets read-only,
// sealed against writes, as fd 4 (transport's hostmem.go); other payloads
// go in the arena's 1 MiB slots (transport's shm.go): one copy in, read in
// place on the far side, passed on without a copy when a plugin winds the
// same data on. Larger payloads, or all of them with shm-size = 0, ride in
// gRPC messages, whose size limit is lifted on both sides; the HTTP/2
// windows are widened so a large message is not throttled by flow
// control.
//
// The arena is optional: a plugin that cannot map it says so in its
// answer to Init (Serve does, and logs why when the host offered one),
// and every fop and its data then go in gRPC messages, slower and as
// correct (TestNoArena). Garbage in the shared memory makes the plugin
// exit with status 3, and the host restart it with a new arena: the host
// checks everything it reads there, so garbage the plugin finds is its
// own doing.
//
// # Logs
//
// The plugin logs with zap as usual (its translator's Logger()); Serve
// makes its logger write JSON lines in the layout go-plugin parses as
// hclog (@level, @message, @timestamp), and the host forwards them into
// the volume's zap logger, so the plugin's lines appear under the
// volume's name at their own level.
package plugin
