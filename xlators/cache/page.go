package cache

import (
	"sync"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// pageState is where a page is in its life.
type pageState uint8

const (
	// pageFilling: a fill owns the page and is reading it from the child;
	// readers wait on the fill (single flight).
	pageFilling pageState = iota + 1
	// pageReady: the page holds data and sits on an LRU list.
	pageReady
)

// page is one cached page of a file: bytes [idx*page-size, idx*page-size+n)
// of the file, held as the range buf[off:off+n] of an iobuf on which the
// page holds one reference. A page shorter than page-size is the file's
// last page (n < page-size means end of file). Page descriptors come from
// the "<volume>:pages" mem-pool and go back to it when the page is
// evicted, invalidated or forgotten. Every field is guarded by Cache.mu.
type page struct {
	st    *inodeState
	idx   int64
	state pageState
	fill  *fill // the fill that owns the page while it is filling

	buf    *iobuf.Iobuf // while ready: one reference, the page's own
	off, n int
	level  int // priority level: the LRU list the page is on

	prev, next *page // LRU links while ready
}

// inodeState is the cache's context on one file's inode, from the
// "<volume>:inodes" mem-pool: the file's pages, its fills in flight, the
// attributes recorded at the last revalidation, and the generation that
// every invalidating fop bumps so that a fill racing it discards what it
// read. Every field is guarded by Cache.mu.
type inodeState struct {
	in     *xlator.Inode
	pages  map[int64]*page
	fills  []*fill // in flight
	gen    uint64
	eof    int64 // index of the cached page shorter than page-size, or -1
	level  int   // priority level
	noPrio bool  // priority 0: never cached

	attrKnown bool // mtime and size below are the baseline to revalidate against
	checking  bool // a reader is revalidating
	mtime     xlator.Timespec
	size      int64
	checked   int64 // c.now() at the last revalidation
	cacheable bool  // the size is within min-file-size and max-file-size

	seqEnd int64 // where the last read ended: the next read there is sequential

	prevSt, nextSt *inodeState // the cache's list of states, for Fini
}

// fill is one child readv that fills a run of consecutive pages, from the
// "<volume>:fills" mem-pool. Readers that find one of its pages filling
// wait on cond, then take their bytes from data directly: they do not need
// the pages to have been inserted (a fill that raced a write still serves
// the reads that were concurrent with that write, but is not cached). The
// fill is freed by the last of its filler and waiters to leave it.
type fill struct {
	st     *inodeState
	gen    uint64  // st.gen when the fill started
	first  int64   // index of the first page
	pages  []*page // claimed pages, in order; emptied when the fill is done
	npages int     // how many pages the fill reads
	ra     int     // how many of them are read-ahead

	done bool
	data *iobuf.Iobref // the child's reply, one reference held by the fill
	err  error
	refs int // filler + waiters
	cond sync.Cond
}

// lruList is an intrusive doubly linked ring of ready pages with a
// sentinel: most recently used at the front.
type lruList struct{ root page }

func (l *lruList) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *lruList) empty() bool { return l.root.next == &l.root }

func (l *lruList) pushFront(p *page) {
	p.prev, p.next = &l.root, l.root.next
	l.root.next.prev = p
	l.root.next = p
}

func (l *lruList) remove(p *page) {
	p.prev.next, p.next.prev = p.next, p.prev
	p.prev, p.next = nil, nil
}

// touch moves p to the front unless it is there already.
func (l *lruList) touch(p *page) {
	if l.root.next == p {
		return
	}
	p.prev.next, p.next.prev = p.next, p.prev
	p.prev, p.next = &l.root, l.root.next
	l.root.next.prev = p
	l.root.next = p
}

func (l *lruList) back() *page {
	if l.empty() {
		return nil
	}
	return l.root.prev
}

// insertLocked makes the filling page p ready over buf[off:off+n] (the
// page's own reference on buf is already taken) and puts it on its LRU.
func (c *Cache) insertLocked(p *page, buf *iobuf.Iobuf, off, n int) {
	p.state, p.fill = pageReady, nil
	p.buf, p.off, p.n = buf, off, n
	c.lrus[p.level].pushFront(p)
	c.nPages++
	c.nBytes += int64(n)
	if c.held[buf]++; c.held[buf] == 1 {
		c.heldBytes += int64(buf.PageSize())
	}
	st := p.st
	if n < c.pageSize {
		// At most one short page per file: two would disagree on where
		// the file ends (possible only after a change behind the cache).
		if st.eof >= 0 && st.eof != p.idx {
			if old := st.pages[st.eof]; old != nil && old.state == pageReady {
				c.removeLocked(old)
			}
		}
		st.eof = p.idx
	}
}

// removeLocked drops the ready page p from its file and its LRU list and
// releases it: the iobuf reference is dropped and the descriptor goes back
// to its pool.
func (c *Cache) removeLocked(p *page) {
	st := p.st
	if st.pages[p.idx] == p {
		delete(st.pages, p.idx)
	}
	if st.eof == p.idx {
		st.eof = -1
	}
	c.lrus[p.level].remove(p)
	c.nPages--
	c.nBytes -= int64(p.n)
	if c.held[p.buf]--; c.held[p.buf] == 0 {
		delete(c.held, p.buf)
		c.heldBytes -= int64(p.buf.PageSize())
	}
	p.buf.Unref()
	p.buf, p.st = nil, nil
	_ = c.pagePool.Put(p)
}

// evictLocked drops least recently used pages, lowest priority first,
// until the iobufs the pages hold fit cache-size. Dropping a page whose
// iobuf other pages still hold frees nothing, so the loop goes on to the
// next one.
func (c *Cache) evictLocked() {
	for c.heldBytes > c.cacheSize {
		var victim *page
		for i := range c.lrus {
			if victim = c.lrus[i].back(); victim != nil {
				break
			}
		}
		if victim == nil {
			return
		}
		c.removeLocked(victim)
		c.evictions.Add(1)
	}
}

// dropAllLocked drops every page of st and bumps its generation: fills in
// flight are detached (their pages leave the map and are not inserted when
// the fill completes).
func (c *Cache) dropAllLocked(st *inodeState) {
	st.gen++
	c.detachFillsLocked(st)
	for _, p := range st.pages {
		c.removeLocked(p)
	}
}

// detachFillsLocked takes the pages of st's fills in flight out of the map,
// so that later readers start fills of their own instead of waiting for
// data read before the change that calls this.
func (c *Cache) detachFillsLocked(st *inodeState) {
	for _, f := range st.fills {
		for _, p := range f.pages {
			if st.pages[p.idx] == p {
				delete(st.pages, p.idx)
			}
		}
	}
}

// invalidate drops the pages of st overlapping the bytes [from, to) (to < 0:
// the whole file) after a fop changed them, with the short last page (the
// file's end may have moved) and every fill in flight, and bumps the
// generation. The attributes recorded for revalidation are forgotten: the
// change is the stack's own, so the next read records new ones instead of
// taking them for a change behind the cache.
func (c *Cache) invalidate(st *inodeState, from, to int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidations.Add(1)
	st.attrKnown = false
	if to < 0 || from < 0 {
		c.dropAllLocked(st)
		return
	}
	st.gen++
	c.detachFillsLocked(st)
	if st.eof >= 0 {
		if p := st.pages[st.eof]; p != nil && p.state == pageReady {
			c.removeLocked(p)
		}
	}
	if to <= from {
		return
	}
	first, last := from>>c.shift, (to-1)>>c.shift
	if last-first+1 > int64(len(st.pages)) {
		for idx, p := range st.pages {
			if idx >= first && idx <= last {
				c.removeLocked(p)
			}
		}
		return
	}
	for idx := first; idx <= last; idx++ {
		if p := st.pages[idx]; p != nil {
			c.removeLocked(p)
		}
	}
}
