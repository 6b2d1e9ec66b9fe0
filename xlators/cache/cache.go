package cache

import (
	"fmt"
	"math/bits"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/xlator"
)

// Cache is the cache translator. It is safe for concurrent use: one mutex
// guards the pages, the LRU lists and the per-file state, and is never
// held across a call to the child.
type Cache struct {
	xlator.Base

	// Options, read-only after Init.
	cacheSize int64
	pageSize  int
	shift     uint
	timeout   int64 // nanoseconds
	minFile   int64
	maxFile   int64
	readAhead int
	prios     []xlator.Pattern
	levels    []int64 // distinct priorities > 0, ascending: LRU level i evicts before i+1
	defLevel  int

	pagePool  *mempool.Pool[page]
	inodePool *mempool.Pool[inodeState]
	fillPool  *mempool.Pool[fill]

	epoch time.Time
	now   func() int64 // monotonic nanoseconds; tests replace it

	mu        sync.Mutex
	lrus      []lruList
	nPages    int64
	nBytes    int64
	held      map[*iobuf.Iobuf]int32 // iobufs the pages hold, with how many pages hold each
	heldBytes int64
	states    inodeState   // sentinel of the ring of inode states
	nStates   atomic.Int64 // written under mu; read without it
	closed    bool

	hits, misses, served, readahead     atomic.Uint64
	evictions, invalidations, waits     atomic.Uint64
	revalidations, staleDrops, children atomic.Uint64
	copied, bypassed                    atomic.Uint64
}

var _ xlator.Xlator = (*Cache)(nil)

// option returns name's value, or the schema default when the options were
// built by hand (tests) without it.
func option(o xlator.Options, name string) xlator.Value {
	if v, ok := o.Get(name); ok {
		return v
	}
	opt, _ := Schema.Lookup(name)
	if opt.Default == "" {
		return xlator.Value{Kind: opt.Kind}
	}
	v, err := opt.ParseScalar(opt.Default)
	if err != nil {
		panic(fmt.Sprintf("cache: default of %s: %v", name, err))
	}
	return v
}

// Init reads the options and makes the translator's pools.
func (c *Cache) Init(ic *xlator.InitContext) error {
	if n := len(c.Children()); n != 1 {
		return fmt.Errorf("cache needs exactly one subvolume, has %d", n)
	}
	o := ic.Options
	c.cacheSize = option(o, "cache-size").Int
	ps := option(o, "page-size").Int
	if ps < MinPageSize || ps > MaxPageSize || ps&(ps-1) != 0 {
		return fmt.Errorf("option page-size: %s is not a power of two between 4KiB and 1MiB (try 128KiB)", xlator.FormatSize(ps))
	}
	// A page pins a whole iobuf, and the pool has no class of every
	// power of two (a 4KiB page sits in an 8KiB iobuf).
	if least := int64(c.Iobufs().ClassSize(int(ps))); c.cacheSize < least {
		return fmt.Errorf("option cache-size: %s cannot hold one page: a page of page-size %s pins a %s iobuf; raise cache-size to at least %s or lower page-size",
			xlator.FormatSize(c.cacheSize), xlator.FormatSize(ps), xlator.FormatSize(least), xlator.FormatSize(least))
	}
	c.pageSize, c.shift = int(ps), uint(bits.TrailingZeros64(uint64(ps)))
	c.timeout = option(o, "cache-timeout").Int
	c.minFile = option(o, "min-file-size").Int
	c.maxFile = option(o, "max-file-size").Int
	if c.maxFile > 0 && c.minFile > c.maxFile {
		return fmt.Errorf("option min-file-size %s exceeds max-file-size %s: no file would be cached",
			xlator.FormatSize(c.minFile), xlator.FormatSize(c.maxFile))
	}
	c.readAhead = int(option(o, "read-ahead").Int)
	c.prios = o.Patterns("priority")
	for _, p := range c.prios {
		if _, err := filepath.Match(p.Glob, ""); err != nil {
			return fmt.Errorf("option priority: pattern %q: %v", p.Glob, err)
		}
	}
	c.levels = []int64{DefaultPriority}
	for _, p := range c.prios {
		if p.Value > 0 && !slices.Contains(c.levels, p.Value) {
			c.levels = append(c.levels, p.Value)
		}
	}
	slices.Sort(c.levels)
	c.defLevel = slices.Index(c.levels, DefaultPriority)
	c.lrus = make([]lruList, len(c.levels))
	for i := range c.lrus {
		c.lrus[i].init()
	}
	c.held = make(map[*iobuf.Iobuf]int32)
	c.states.prevSt, c.states.nextSt = &c.states, &c.states
	c.epoch = time.Now()
	c.now = func() int64 { return int64(time.Since(c.epoch)) }

	count := int(min(c.cacheSize/ps+64, 16384))
	c.pagePool = mempool.New[page](ic.Env.Pools, c.Name(), "pages", count)
	c.inodePool = mempool.New[inodeState](ic.Env.Pools, c.Name(), "inodes", 256)
	c.fillPool = mempool.New[fill](ic.Env.Pools, c.Name(), "fills", 64)
	return nil
}

// Fini drops every page (unreffing every iobuf the cache holds) and returns
// the per-file states to their pool. Fops must have stopped.
func (c *Cache) Fini() {
	c.mu.Lock()
	c.closed = true
	var sts []*inodeState
	for st := c.states.nextSt; st != &c.states; st = st.nextSt {
		c.dropAllLocked(st)
		sts = append(sts, st)
	}
	c.states.prevSt, c.states.nextSt = &c.states, &c.states
	c.nStates.Store(0)
	c.mu.Unlock()
	// Outside c.mu: DelCtx takes the inode's context lock, and stateFor
	// takes the two one after the other, never nested.
	for _, st := range sts {
		if st.in != nil && st.in.DelCtx(c) == st {
			st.in = nil
			_ = c.inodePool.Put(st)
		}
	}
}

// Forget frees the file's state and its pages.
func (c *Cache) Forget(in *xlator.Inode) {
	st, _ := in.DelCtx(c).(*inodeState)
	if st == nil {
		return
	}
	c.mu.Lock()
	c.dropAllLocked(st)
	busy := len(st.fills) > 0
	if st.nextSt != nil {
		st.prevSt.nextSt, st.nextSt.prevSt = st.nextSt, st.prevSt
		st.prevSt, st.nextSt = nil, nil
		c.nStates.Add(-1)
	}
	c.mu.Unlock()
	if busy {
		// A fill in flight on a forgotten inode cannot happen (a readv holds
		// an fd, which holds the inode); if it does, leave the state to the
		// garbage collector rather than recycle memory the fill still uses.
		c.Logger().Error("cache: inode forgotten with a read in flight")
		return
	}
	st.in = nil
	_ = c.inodePool.Put(st)
}

// stateOf returns the cache's state on in, or nil if there is none. A fop
// that invalidates asks for it after the child's fop returned: a state made
// by a reader while the fop was in flight is then invalidated too.
func (c *Cache) stateOf(in *xlator.Inode) *inodeState {
	if in == nil {
		return nil
	}
	st, _ := in.Ctx(c).(*inodeState)
	return st
}

// stateFor returns the state on in, making it on the first read.
func (c *Cache) stateFor(in *xlator.Inode) *inodeState {
	if st, _ := in.Ctx(c).(*inodeState); st != nil {
		return st
	}
	st := c.inodePool.Get()
	if st.pages == nil {
		st.pages = make(map[int64]*page)
	} else {
		clear(st.pages)
	}
	st.in, st.fills, st.gen, st.eof = in, st.fills[:0], 0, -1
	st.attrKnown, st.checking, st.mtime, st.size, st.checked = false, false, xlator.Timespec{}, 0, 0
	st.cacheable, st.seqEnd = true, 0
	st.level, st.noPrio = c.defLevel, false
	if len(c.prios) > 0 {
		if parent, name, ok := in.Dentry(); ok {
			parent.Unref()
			for _, p := range c.prios {
				if p.Match(name) {
					if p.Value == 0 {
						st.noPrio = true
					} else {
						st.level = slices.Index(c.levels, p.Value)
					}
					break
				}
			}
		}
	}
	got, _ := in.CtxOrSet(c, func() any { return st }).(*inodeState)
	if got != st {
		st.in = nil
		_ = c.inodePool.Put(st)
		return got
	}
	c.mu.Lock()
	st.prevSt, st.nextSt = c.states.prevSt, &c.states
	c.states.prevSt.nextSt = st
	c.states.prevSt = st
	c.nStates.Add(1)
	c.mu.Unlock()
	return st
}

// cacheableSize reports whether a file of size bytes is within
// min-file-size and max-file-size.
func (c *Cache) cacheableSize(size int64) bool {
	return size >= c.minFile && (c.maxFile == 0 || size <= c.maxFile)
}

// regular reports whether reads of fd may be cached: a regular file (or one
// whose type the table does not know yet) not opened O_DIRECT.
func regular(fd *xlator.FD) bool {
	t := fd.Inode.Type()
	return (t == 0 || t == syscall.S_IFREG) && fd.Flags&syscall.O_DIRECT == 0
}
