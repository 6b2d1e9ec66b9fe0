// Package metrics serves a running stack's statistics to Prometheus.
//
// # Model
//
// A Collector is a prometheus.Collector over a statedump.Dumper: at every
// scrape it collects a statedump of the parts fops, mem, iobuf, slab, bio
// and priv and turns that copy into metrics. It keeps no counters of its
// own, so the fop path pays nothing for it beyond the statistics the graph
// keeps anyway; a scrape costs what a statedump of those parts costs, and
// is bounded as a statedump is (statedump.Options.Budget: a section that
// waits on a lock is left out of that scrape and counted in
// xstack_scrape_skipped_sections).
//
// The translators' latency histograms are the statedump's: bucket i counts
// latencies in [2^i, 2^(i+1)) ns. Prometheus buckets are cumulative with
// an inclusive upper bound, so bucket i becomes le = 2^(i+1) ns (in
// seconds) holding the counts of buckets 0..i, and the last, unbounded
// bucket is le = +Inf. A latency of exactly 2^(i+1) ns is counted under
// the next bound up: the clock's ticks are converted to nanoseconds, so
// no bound is exact to the nanosecond anyway.
//
// # Names
//
// Names follow Prometheus's conventions: the xstack_ prefix, _total on
// counters, base units (_seconds, _bytes), and labels volume (the
// translator's volume name), type, fop (GlusterFS's name: READ, WRITE …),
// pool, cache, page_size, op, state. Every name is listed with its help
// text in names.go.
//
// # Serving
//
// Listen serves a Collector (with the Go runtime's and the process's
// collectors) over HTTP at /metrics; Serve does the same until a context
// ends. The endpoint has no authentication: bind it to localhost or a
// private network.
package metrics
