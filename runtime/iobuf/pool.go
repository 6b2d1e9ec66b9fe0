package iobuf

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/internal/pin"
	"github.com/xstack/xstack/runtime/mempool"

	"go.uber.org/zap"
)

// Pool hands out page-sized buffers (iobufs) from mmap'd arenas, one set of
// arenas per page-size class, and pools the iobrefs that carry them. It is
// safe for concurrent use; create one with New and share it.
type Pool struct {
	classes   []*class
	sizes     []int // page size per class, ascending, for the lookup in Get
	defSize   int
	purgeAge  time.Duration
	debug     bool
	cacheOn   bool
	closed    atomic.Bool // read by every Get: kept among the read-mostly fields
	log       *zap.Logger
	arenaSize int64

	// shards are the CPU caches, by P id: made for the Ps New expects
	// (four per CPU, as a mounting daemon runs, or GOMAXPROCS if
	// higher); a P past them (GOMAXPROCS raised further) has its shard
	// in extra, made on its first use (shardSlow).
	shards []shard
	extra  pin.Extra[shard]

	iobrefs  *mempool.Pool[Iobref]
	borrowed sync.Pool // of *Iobuf: headers of returned borrowed buffers

	mappedBytes   atomic.Int64
	requestMisses atomic.Uint64
	stdActive     atomic.Int64
	borrowActive  atomic.Int64 // Borrow iobufs still referenced
	stdBytes      atomic.Int64
	refUnderflows atomic.Uint64
	useAfterFree  atomic.Uint64
	purgerMu      sync.Mutex
	purgerStop    chan struct{}
	purgerDone    chan struct{}
	poisonPattern []byte     // one largest page of poison, for debug mode
	shared        *sharedMem // Config.Shared: where arenas come from
}

// New returns a pool configured by cfg. No memory is mapped until the first
// Get of each class. The error wraps ErrInvalidConfig.
func New(cfg Config) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		defSize:  cfg.DefaultPageSize,
		purgeAge: cfg.PurgeAfter,
		debug:    cfg.Debug || invariants,
		cacheOn:  !cfg.NoCPUCache,
		log:      cfg.Logger,
	}
	for i, k := range cfg.Classes {
		c := &class{
			pool:     p,
			index:    i,
			pageSize: k.PageSize,
			numPages: k.NumPages,
			mapLen:   roundUp(k.PageSize*k.NumPages, osPageSize),
		}
		c.cacheCap, c.batch = cacheSize(k.PageSize, k.NumPages)
		p.classes = append(p.classes, c)
		p.sizes = append(p.sizes, k.PageSize)
		p.arenaSize += int64(k.PageSize) * int64(k.NumPages)
	}
	p.shards = make([]shard, max(runtime.GOMAXPROCS(0), 4*runtime.NumCPU()))
	for i := range p.shards {
		p.initShard(&p.shards[i])
	}
	p.iobrefs = mempool.New[Iobref](cfg.Pools, "iobuf", "iobref", iobrefPoolSize)
	if p.debug {
		p.poisonPattern = make([]byte, p.sizes[len(p.sizes)-1])
		poison(p.poisonPattern)
	}
	if cfg.Shared {
		if p.shared, err = newSharedMem(cfg.SharedSize); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// classFor returns the index of the smallest class that holds size bytes, or
// -1 when size exceeds the largest class.
func (p *Pool) classFor(size int) int {
	for i, s := range p.sizes {
		if size <= s {
			return i
		}
	}
	return -1
}

// ClassSize returns the length Get(size) gives its buffer: the page size of
// the smallest class that holds size bytes (the default page size for 0),
// or, above the largest class, size rounded up to the OS page. A caller
// that keeps buffers (a cache) uses it to know what a Get would pin before
// it asks. It panics on a negative size, as Get does.
func (p *Pool) ClassSize(size int) int {
	if size <= 0 {
		if size < 0 {
			panic(fmt.Sprintf("iobuf: ClassSize(%d): negative size", size))
		}
		size = p.defSize
	}
	if ci := p.classFor(size); ci >= 0 {
		return p.sizes[ci]
	}
	return roundUp(size, osPageSize)
}

// Get returns an iobuf of at least size bytes holding one reference, which the
// caller owns and releases with Unref. Get(0) returns a DefaultPageSize
// buffer. The buffer comes from the smallest class whose page size is ≥ size;
// its contents are unspecified (not zeroed). A size above the largest class
// is served from the Go heap, page-aligned, and counted in request_misses;
// so is any request while the kernel refuses to map a new arena.
//
// Get is safe for concurrent use and does not allocate when the class has a
// free page. It panics with ErrClosed after a successful Close and on a
// negative size.
func (p *Pool) Get(size int) *Iobuf {
	if size <= 0 {
		if size < 0 {
			panic(fmt.Sprintf("iobuf: Get(%d): negative size", size))
		}
		size = p.defSize
	}
	ci := p.classFor(size)
	if ci < 0 {
		return p.getStd(size)
	}
	if p.closed.Load() {
		panic(ErrClosed)
	}
	if nopools.On && p.shared == nil {
		return p.heapBuf(p.sizes[ci])
	}
	var b *Iobuf
	var s *shard
	if p.cacheOn {
		pid := pin.Pin()
		if pid < len(p.shards) {
			s = &p.shards[pid]
		} else {
			s = p.shardSlow(pid)
		}
		sc := &s.cls[ci]
		st64(&sc.gets, ld64(&sc.gets)+1)
		if b = sc.ldPrivate(); b != nil {
			sc.stPrivate(nil)
		}
		pin.Unpin()
	}
	if s == nil {
		p.classes[ci].gets.Add(1)
	}
	if b == nil {
		if b = p.getSlow(s, ci); b == nil {
			p.classes[ci].fallbacks.Add(1)
			return p.getStd(p.sizes[ci])
		}
	}
	// The page is ours alone until we return it: no read-modify-write.
	st32(&b.refs, 1)
	if p.debug {
		p.checkPoison(b)
	}
	return b
}

// getStd serves a request the arenas cannot: a heap buffer of size rounded up
// to the OS page size, OS-page-aligned.
func (p *Pool) getStd(size int) *Iobuf {
	if p.closed.Load() {
		panic(ErrClosed)
	}
	p.requestMisses.Add(1)
	return p.heapBuf(roundUp(size, osPageSize))
}

// heapBuf returns an iobuf of n bytes on the Go heap, OS-page-aligned when
// n is a multiple of the OS page (so O_DIRECT can use it), counted as
// stdalloc. A nopools build serves every Get this way.
func (p *Pool) heapBuf(n int) *Iobuf {
	if n%osPageSize != 0 {
		p.stdActive.Add(1)
		p.stdBytes.Add(int64(n))
		return &Iobuf{refs: 1, class: -1, data: make([]byte, n), pool: p}
	}
	mem := make([]byte, n)
	if uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%uintptr(osPageSize) != 0 {
		// The runtime aligns large objects to its own 8 KiB pages, so this
		// is rare; pay the slack only when needed.
		mem = make([]byte, n+osPageSize-1)
		off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(mem))) & uintptr(osPageSize-1))
		mem = mem[off : off+n : off+n]
	}
	p.stdActive.Add(1)
	p.stdBytes.Add(int64(n))
	return &Iobuf{refs: 1, class: -1, data: mem, pool: p}
}

// Lender takes back memory it lent to a pool with Borrow.
type Lender interface {
	// Return is called once, when the last reference to the iobuf over
	// the memory lent with tag has been dropped.
	Return(tag uint64)
}

// Borrow wraps memory the pool does not own (a shared-memory slot, say)
// as an iobuf with one reference, owned by the caller, so it can travel in
// iobrefs like any other; after the last Unref the pool calls
// l.Return(tag) instead of taking a page back. mem must hold no Go
// pointers and stay valid until then. The iobuf's header is reused once
// it has been returned, so a borrow allocates nothing in steady state (a
// stale reference to a returned iobuf is as wrong as one to a page put
// back). Borrowed iobufs count as neither arena pages nor stdalloc
// buffers in Stats; BorrowActive counts them.
func (p *Pool) Borrow(mem []byte, l Lender, tag uint64) *Iobuf {
	b, _ := p.borrowed.Get().(*Iobuf)
	if b == nil {
		b = new(Iobuf)
	}
	*b = Iobuf{refs: 1, class: -1, data: mem, pool: p, lender: l, tag: tag}
	p.borrowActive.Add(1)
	return b
}

// BorrowActive returns how many borrowed iobufs are still referenced.
func (p *Pool) BorrowActive() int64 { return p.borrowActive.Load() }

// release takes back an iobuf whose last reference was just dropped.
func (p *Pool) release(b *Iobuf) {
	if l := b.lender; l != nil {
		tag := b.tag
		b.lender, b.data = nil, nil
		p.borrowActive.Add(-1)
		p.borrowed.Put(b)
		l.Return(tag)
		return
	}
	if b.arena == nil {
		p.stdActive.Add(-1)
		p.stdBytes.Add(-int64(len(b.data)))
		b.data = nil // the heap memory goes to the GC; stale users get nil
		return
	}
	if p.debug {
		copy(b.data, p.poisonPattern)
	}
	p.put(b)
}

// DefaultPageSize returns the size of a Get(0) buffer.
func (p *Pool) DefaultPageSize() int { return p.defSize }

// Classes returns the class table, sorted by page size.
func (p *Pool) Classes() []Class {
	out := make([]Class, len(p.classes))
	for i, c := range p.classes {
		out[i] = Class{PageSize: c.pageSize, NumPages: c.numPages}
	}
	return out
}

// Purge unmaps every arena that has been fully unused for at least
// Config.PurgeAfter before now, keeping one arena per class, and returns the
// bytes unmapped. It first returns the pages parked in per-CPU caches to
// their arenas. Purge is safe for concurrent use with everything else; with
// a negative PurgeAfter it does nothing.
func (p *Pool) Purge(now time.Time) int64 {
	if p.purgeAge < 0 || p.closed.Load() {
		return 0
	}
	p.flush()
	cutoff := now.Add(-p.purgeAge)
	var freed int64
	for _, c := range p.classes {
		c.mu.Lock()
		freed += c.purgeLocked(cutoff, false)
		c.mu.Unlock()
	}
	return freed
}

// Shrink is Purge under memory pressure, the pool's shrinker: it returns
// the pages parked in per-CPU stacks to their arenas and unmaps every arena
// with no page out, however recently used, keeping none (the next Get of
// the class maps one again). It returns the bytes unmapped. Pages in the
// CPUs' private slots stay where they are, and so do their arenas. Shrink
// is safe for concurrent use with everything else; it does nothing after
// Close.
func (p *Pool) Shrink() int64 {
	if p.closed.Load() {
		return 0
	}
	p.flush()
	var freed int64
	for _, c := range p.classes {
		c.mu.Lock()
		freed += c.purgeLocked(time.Now(), true)
		c.mu.Unlock()
	}
	return freed
}

// MappedBytes returns the bytes of arenas mapped now: the pool's share of
// the process's memory outside the Go heap. It is one atomic load.
func (p *Pool) MappedBytes() int64 { return p.mappedBytes.Load() }

// Start runs Purge in a background goroutine every PurgeAfter/2 (at most
// every 10ms) until Stop or Close. Calling Start on a running purger, or
// with purging disabled, does nothing.
func (p *Pool) Start() {
	p.purgerMu.Lock()
	defer p.purgerMu.Unlock()
	if p.purgerStop != nil || p.purgeAge < 0 {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	p.purgerStop, p.purgerDone = stop, done
	every := max(p.purgeAge/2, 10*time.Millisecond)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				p.Purge(now)
			}
		}
	}()
}

// Stop stops the background purger started by Start and waits for it to
// exit. It is a no-op when no purger is running.
func (p *Pool) Stop() {
	p.purgerMu.Lock()
	defer p.purgerMu.Unlock()
	if p.purgerStop == nil {
		return
	}
	close(p.purgerStop)
	<-p.purgerDone
	p.purgerStop, p.purgerDone = nil, nil
}

// Close stops the purger and unmaps every arena. While any iobuf or iobref is
// still held it returns ErrBusy (with the counts) and unmaps nothing, so the
// holders never fault; the pool keeps working and Close may be retried.
// After a successful Close, Get and NewIobref panic with ErrClosed; Close
// again returns nil. Close must not race with Get: it is for shutdown, once
// the users of the pool are gone.
func (p *Pool) Close() error {
	p.Stop()
	if p.closed.Load() {
		return nil
	}
	p.flush()
	for _, c := range p.classes {
		c.mu.Lock()
	}
	defer func() {
		for _, c := range p.classes {
			c.mu.Unlock()
		}
	}()
	var pages int
	for _, c := range p.classes {
		for _, a := range c.arenas {
			pages += a.held() // pages parked in CPU caches are free
		}
	}
	std := p.stdActive.Load()
	refs := p.iobrefActive()
	if pages > 0 || std > 0 || refs > 0 {
		return fmt.Errorf("%w: %d pool iobufs, %d heap iobufs, %d iobrefs still held", ErrBusy, pages, std, refs)
	}
	p.closed.Store(true)
	p.iobrefs.Destroy()
	for _, c := range p.classes {
		for _, a := range c.arenas {
			if err := c.unmap(a); err != nil {
				return err
			}
		}
		c.arenas = nil
	}
	if p.shared != nil {
		return p.shared.close()
	}
	return nil
}

func (p *Pool) iobrefActive() int64 {
	// Frees first: every free follows its New, so the result is never
	// negative even while iobrefs move between shards.
	var n int64
	p.eachShard(func(s *shard) { n -= atomic.LoadInt64(&s.iobrefsFree) })
	p.eachShard(func(s *shard) { n += atomic.LoadInt64(&s.iobrefsNew) })
	return n
}

// iobrefPoolSize is how many iobrefs the pool preallocates; more come
// from the heap and go back to it when idle.
const iobrefPoolSize = 1024

func roundUp(n, to int) int { return (n + to - 1) / to * to }
