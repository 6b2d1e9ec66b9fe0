// Package xlator is the contract every xstack translator implements and the
// graph that runs a stack of them.
//
// A translator (xlator) sits in a graph built from a volfile: requests
// (fops) enter at the top, each translator handles them or passes them to
// its children, and the posix translator at the bottom stores files in a
// brick directory. This is GlusterFS's design; this package keeps its
// vocabulary (fops, inodes with GFIDs, fds, context slots, notify events,
// statedumps) but not its callback style: a fop is a synchronous Go call
// that returns its results and an error, and concurrency comes from many
// goroutines calling the graph at once.
//
// Writing a translator: embed Base, which passes every fop to the first
// child (GlusterFS's defaults; a copy_file_range instead goes through the
// translator's own readv and writev unless its type is DataTransparent,
// see copy.go), override the fops you change, and register
// a Type with its option Schema and constructor. Base also gives the
// translator its name, children, logger and the shared runtime (Env: the
// mem-pool registry, the iobuf pool, the slab caches). Per-file and
// per-open-file state lives in context slots on Inode and FD, indexed by
// the translator's position in the graph: no global maps on the hot path.
// The graph's inodes and fds come from the mem-pools "<top>:inode_t" and
// "<top>:fd_t" and go back once forgotten or released, so a translator
// must not keep an Inode or FD it holds no reference on.
//
// Data: a write carries its bytes as an *iobuf.Iobref — a reference-counted
// vector of byte ranges over pooled, page-aligned iobufs — lent to the
// callee for the duration of the call. A read returns an iobref holding one
// reference for the caller. Nothing on the data path copies bytes: a
// translator that splits or reassembles data (stripe) builds new iobrefs
// over the same iobufs; one that keeps data (cache) takes references.
//
// The graph wraps every translator once (wrapper) to record each call's
// path through the stack (which translator it is in, since when: the calls
// in flight of a statedump) and per-fop statistics (count, errors, bytes,
// latency histogram), so translator authors never write that themselves.
//
// Lifecycle: New builds the translators from a Spec; Init initialises them
// children first; Start sends parent-up down the graph and waits for the
// top's child-up; Stop sends parent-down and finalises them parents first,
// releasing the pools each volume owns.
package xlator
