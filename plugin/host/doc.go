// Package host is the host's side of a plugin: the translator of type
// "plugin" (Plugin, registered by Register), which runs a plugin binary
// built with package plugin (or written from PROTOCOL.md) and stands for
// it in the host's graph.
//
// A volume of type "plugin" names the binary with option path (and
// optionally its sha256); its subvolumes stay in the host and become the
// plugin's children. The plugin's other options are declared by the
// binary itself. Read host.go (the translator, its fops and the callback
// service's endpoint), process.go (starting, watching and restarting the
// process), deadline.go (call-timeout and pings), options.go and
// schema.go (checking the plugin's options), in that order.
//
// # Schemas
//
// Loading a volfile never runs a plugin binary: validating an untrusted
// volfile must be safe. So a plugin publishes its schema beside its
// binary (SchemaFile), a JSON file that the trusted binary writes when run
// once with the SDK's SchemaFlag, naming its own sha256. The loader
// (xlator.Type.SchemaFor) reads the binary, checks it against the
// volume's sha256 when given, and uses the published schema only if it
// was written by that very binary: a plugin volume is then checked with
// the same file:line:col diagnostics as a built-in one. Without such a
// schema the volume gets a warning, and its plugin options are checked at
// start. At start (Plugin.Init, after the sha256 check) the host asks the
// running plugin for its schema, the authority, and decodes the volume's
// options as written (VolumeSpec.Literals) against it, with the volume,
// option and file:line:col in every error; a published schema for that
// binary that does not say the same fails the start, since the volfile
// was checked against it.
//
// # Processes
//
// Plugin starts the binary at Init (go-plugin's handshake: magic cookie,
// the protocol version, picked by the plugin from those the host speaks,
// MinProtocolVersion to ProtocolVersion, optional SHA-256 check), checks
// the volume's options against the schema it declares, serves a callback
// service for its children on a go-plugin broker stream (one gRPC server
// per plugin process) and the plugin-to-host ring, and sends Init over
// the protocol. A plugin of a version the host does not speak is refused
// with ErrProtocolVersion, a binary that does not match its sha256 with
// ErrChecksum.
//
// The arena is optional for a plugin: one that cannot map it (or will
// not) says so in its answer to Init, and the host then names none of
// its slots, lends none of its memory and makes no ring call to it:
// every fop and its data go in gRPC messages, slower and as correct
// (TestNoArena), and Plugin.Dump says "arena = off: ..." and why.
//
// # Failure
//
// When the plugin dies, fops in flight and new ones fail with ENOTCONN,
// Plugin sends child-down to its parents, restarts the plugin with
// doubling back-off (go-plugin never restarts a plugin by itself) and
// sends child-up once it runs again. fds opened before the restart keep
// working: the new plugin makes its fd for a handle at the first fop on
// it.
//
// A plugin that breaks the protocol is handled as one that died: the host
// checks every value it reads from the shared memory, and the first that
// is wrong (garbage in a ring, a reply longer than the request, a slot,
// offset or token the plugin was not given) has the process killed and
// restarted (transport's breach.go). Nothing the plugin does to the
// memfds makes the host fault: their sizes are sealed. What a plugin may
// make the host keep for it is bounded: host iobufs kept past a writev
// (transport's hostmem.go), fds it opened (Plugin.Dump's plugin-fds),
// the size of what it asks for.
//
// # Deadlines and interrupts
//
// A host's call to the plugin carries its caller's context
// (xlator.Call.Ctx): a FUSE request's, cancelled when the kernel
// interrupts the request (a signal to the waiting thread, the caller
// killed), or an API caller's (api.Volume.WithContext). An API caller
// whose context ends stops waiting at once: ECANCELED, or ETIMEDOUT for a
// deadline (TestDeadlineThroughAPI). A FUSE caller stops waiting when it
// is dying (killed: ECANCELED, which the bridge answers EINTR, and the
// process exits at once) or its call is an Lk; one that was only
// interrupted by a signal it handles waits for the plugin, as an NFS
// mount's caller does (TestDeadlineFUSE). Every call also has a deadline, the volume's
// call-timeout (DefaultCallTimeout unless set): past it the caller gets
// ETIMEDOUT and the host pings the plugin; a plugin that does not answer
// within half of call-timeout, at most 5 s, is killed and restarted as
// after a crash, its calls in flight failing with ENOTCONN, and one that
// answers keeps running (TestCallTimeout). So a caller of a hung plugin is
// free within call-timeout, and the plugin's other fops and every other
// path work meanwhile. The context does not cross into the plugin: its
// translator runs a call the host gave up on to its end, and the call's
// ring slot, with the data it carries and the host memory a writev lent,
// stays the plugin's until then or until it dies (TestRingAbandon,
// TestRingAbandonHostData, TestDeadlineThroughAPI).
//
// # Logs
//
// The host gives go-plugin an hclog.Logger that forwards into the
// volume's zap logger, so the lines the plugin logs appear under the
// volume's name at their own level, once (TestPluginLogOnce).
//
// # Tests
//
// The tests of this package are the whole system's: they build plugin
// binaries (examples/plugins, plugin/internal/testplugin) and run them
// under a host graph, through the API and on a FUSE mount. Under -race the
// plugin binaries are race-enabled too.
package host
