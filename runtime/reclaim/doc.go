// Package reclaim is the runtime's answer to memory pressure, the Go
// counterpart of the kernel's shrinkers: the owners of memory the Go
// garbage collector cannot take back by itself (slab caches and iobuf
// arenas, mapped outside the Go heap; mem-pools' cold heap objects, which
// the pools keep reachable) each register a Shrinker, and a Reclaimer calls
// all of them when the process's memory approaches a limit.
//
// # Measuring pressure
//
// A Reclaimer started with a Limit polls every Interval (a second by
// default): it reads the Go runtime's own memory (runtime/metrics: every
// byte mapped for the Go runtime, /memory/classes/total:bytes, minus the
// heap pages already released to the OS) and adds what each Shrinker
// reports as mapped outside it. At High of the Limit (90% by default) it
// shrinks: it calls every Shrinker once, records what each returned, and
// does not shrink again before the next poll. Polling was chosen over a
// hook on garbage-collection cycles (a finalizer re-armed every cycle):
// its cost is bounded however often the collector runs, and mmap'd memory,
// which grows without any collection, is seen as well. The price is up to
// one Interval of delay.
//
// Without a Limit nothing polls; Reclaim still shrinks on demand.
//
// # Statistics
//
// Stats returns what the Reclaimer saw and did: the limit, the usage at
// the last poll, how many shrinks ran (by pressure or on demand) and when
// the last one did, and per owner the bytes its Shrinker returned in total
// and in the last shrink. The stack puts them in the statedump's
// mem.reclaim section.
//
// # Concurrency
//
// Every method is safe for concurrent use; shrinks never overlap.
package reclaim
