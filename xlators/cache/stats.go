package cache

import (
	"strconv"
	"strings"
	"time"

	"github.com/xstack/xstack/xlator"
)

// Stats is a snapshot of the cache. Pages, Bytes, HeldIobufs, HeldBytes and
// Inodes are gauges; the rest are counters that only grow, and Sub gives
// their change over an interval.
type Stats struct {
	Pages      int64 `json:"pages"`        // pages cached
	Bytes      int64 `json:"bytes_cached"` // bytes of file data in them
	HeldIobufs int64 `json:"held_iobufs"`  // distinct iobufs the pages hold a reference on
	HeldBytes  int64 `json:"held_bytes"`   // their total size: what cache-size bounds
	Inodes     int64 `json:"inodes"`       // files with cache state

	Hits          uint64 `json:"hits"`           // pages served from the cache
	Misses        uint64 `json:"misses"`         // pages a read had to ask the child for
	BytesServed   uint64 `json:"bytes_served"`   // bytes served from cached pages
	ReadAhead     uint64 `json:"readahead"`      // pages read ahead
	Evictions     uint64 `json:"evictions"`      // pages evicted to fit cache-size
	Revalidations uint64 `json:"revalidations"`  // fstats sent to the child to revalidate
	StaleDrops    uint64 `json:"stale_drops"`    // revalidations that found the file changed
	Invalidations uint64 `json:"invalidations"`  // fops that dropped pages of a file
	Waits         uint64 `json:"waits"`          // single-flight waits: pages a reader waited for
	ChildReads    uint64 `json:"child_reads"`    // fills: readvs sent to the child
	CopiedPages   uint64 `json:"copied_pages"`   // pages copied out of the reply into right-sized iobufs
	Bypassed      uint64 `json:"bypassed_reads"` // reads passed to the child uncached
}

// Sub returns the change from prev to s: counters become differences,
// gauges stay s's.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	d.Hits -= prev.Hits
	d.Misses -= prev.Misses
	d.BytesServed -= prev.BytesServed
	d.ReadAhead -= prev.ReadAhead
	d.Evictions -= prev.Evictions
	d.Revalidations -= prev.Revalidations
	d.StaleDrops -= prev.StaleDrops
	d.Invalidations -= prev.Invalidations
	d.Waits -= prev.Waits
	d.ChildReads -= prev.ChildReads
	d.CopiedPages -= prev.CopiedPages
	d.Bypassed -= prev.Bypassed
	return d
}

// Stats returns a snapshot of the cache. It takes the cache's lock briefly
// (never held across IO) for the gauges.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := Stats{Pages: c.nPages, Bytes: c.nBytes, HeldIobufs: int64(len(c.held)), HeldBytes: c.heldBytes,
		Inodes: c.nStates.Load()}
	c.mu.Unlock()
	s.Hits = c.hits.Load()
	s.Misses = c.misses.Load()
	s.BytesServed = c.served.Load()
	s.ReadAhead = c.readahead.Load()
	s.Evictions = c.evictions.Load()
	s.Revalidations = c.revalidations.Load()
	s.StaleDrops = c.staleDrops.Load()
	s.Invalidations = c.invalidations.Load()
	s.Waits = c.waits.Load()
	s.ChildReads = c.children.Load()
	s.CopiedPages = c.copied.Load()
	s.Bypassed = c.bypassed.Load()
	return s
}

// HeldIobufs returns how many distinct iobufs the cached pages hold a
// reference on: the iobufs the cache keeps by design. Once every file is
// closed and every reply released, the iobuf pool's active count is this
// number (plus what other translators hold).
func (c *Cache) HeldIobufs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}

// Dump returns the statedump section: the options, the gauges and the
// counters of Stats, under GlusterFS-like keys.
func (c *Cache) Dump() []xlator.KV {
	s := c.Stats()
	var prios []string
	for _, p := range c.prios {
		prios = append(prios, p.Glob+"="+strconv.FormatInt(p.Value, 10))
	}
	return []xlator.KV{
		{Key: "cache-size", Value: c.cacheSize},
		{Key: "page-size", Value: c.pageSize},
		{Key: "cache-timeout", Value: time.Duration(c.timeout).String()},
		{Key: "min-file-size", Value: c.minFile},
		{Key: "max-file-size", Value: c.maxFile},
		{Key: "read-ahead", Value: c.readAhead},
		{Key: "priority", Value: strings.Join(prios, ",")},
		{Key: "pages", Value: s.Pages},
		{Key: "bytes-cached", Value: s.Bytes},
		{Key: "held-iobufs", Value: s.HeldIobufs},
		{Key: "held-bytes", Value: s.HeldBytes},
		{Key: "inodes", Value: s.Inodes},
		{Key: "hits", Value: s.Hits},
		{Key: "misses", Value: s.Misses},
		{Key: "bytes-served", Value: s.BytesServed},
		{Key: "readahead-pages", Value: s.ReadAhead},
		{Key: "evictions", Value: s.Evictions},
		{Key: "revalidations", Value: s.Revalidations},
		{Key: "stale-drops", Value: s.StaleDrops},
		{Key: "invalidations", Value: s.Invalidations},
		{Key: "single-flight-waits", Value: s.Waits},
		{Key: "child-reads", Value: s.ChildReads},
		{Key: "copied-pages", Value: s.CopiedPages},
		{Key: "bypassed-reads", Value: s.Bypassed},
	}
}
