// Package statedump takes statedumps of a running xstack: the state a user
// reads to find leaks, hot pools and hung calls, as GlusterFS's statedump
// shows it.
//
// # Model
//
// A Dumper reads one Source (a graph, its runtime Env and some metadata).
// Collect copies the selected parts into a Dump — plain values, the JSON
// schema — and the renderers format that copy: WriteText as GlusterFS-style
// "[section]" headers with key=value lines between DUMP-START-TIME and
// DUMP-END-TIME, WriteJSON as the Dump type. Nothing of the stack is held
// while a dump is formatted or written.
//
// The parts (Part) can be selected as `gluster volume statedump VOL mem
// iobuf` selects them:
//
//	mem       [go.memstats] (the Go runtime's figures, where GlusterFS has
//	          [mallinfo]) and every mem-pool: [<volume>.mempool.<what>]
//	          under the translator that owns it, with GlusterFS's keys
//	          (pool-name, active-count, hot-count, cold-count, alloc-count,
//	          max-alloc, pool-misses, cur-stdalloc, max-stdalloc …)
//	iobuf     [iobuf.global], [iobuf.class.<page_size>], [arena.<n>] /
//	          [filled.<n>] / [purge.<n>] per arena
//	slab      [slab.<name>] per slab cache
//	bio       registered sections whose name starts with "bio"
//	callpool  [global.callpool], [global.callpool.stack.<n>] per call in
//	          flight and [global.callpool.stack.<n>.frame.<m>] per hop,
//	          innermost first: frame.1 is the translator the call has not
//	          returned from, with how long it has waited there
//	priv      [<type>.<volume>.priv] per translator (its Dump), and
//	          registered sections of no other part (the FUSE front end)
//	fd        [xlator.fdtable]
//	inode     [xlator.itable] and [xlator.itable.active.<n>] for a few
//	          inodes with references
//	fops      [<type>.<volume>.fops] per translator: per fop its count,
//	          fail_count, bytes, latency min/ave/max and the non-zero
//	          buckets of its latency histogram, as io-stats keeps them
//
// Every translator also gets an [xlator.<volume>] section (type, index,
// children, up) when mem, priv or fops is dumped, and every dump starts
// with an [xstack] header (pid, name, volfile, start time, uptime).
//
// # Never stalling IO
//
// The runtime's Stats methods are snapshots taken with atomics or short
// locks. Whatever might wait on a lock that IO holds (a translator's Dump,
// the inode table, a slab cache, registered sections) is collected on its
// own goroutine and given Options.Budget; if it has not answered by then,
// its section says "unable to dump: busy" and the dump goes on. A dump
// thus takes at most one budget, however stuck the stack is.
//
// # Triggers
//
// Admin ties a Dumper to a running process: SIGUSR1 writes a dump file
// named "<name>.<pid>.dump.<unix-seconds>" (FileName) into the dump
// directory, mode 0600, written under a temporary name and renamed into
// place; and a unix socket (mode 0600, peers checked with SO_PEERCRED:
// only the same user or root) serves dumps to `xstack dump`. The socket
// protocol is one JSON Request line from the client, one JSON Reply line
// from the server, then the dump; see ProtocolVersion. The same socket
// answers profile requests (FetchProfile): GlusterFS's `volume profile`,
// per translator and fop the count, latency and self time, cumulative and
// over the interval since the last clear, for which the server keeps a
// baseline snapshot (profile.go). A registry file
// <rundir>/xstack-<pid>.json (Info) lets the client find a stack by pid or
// mount point; Resolve does that.
package statedump
