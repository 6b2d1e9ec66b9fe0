package posix

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/bio"
	"github.com/xstack/xstack/runtime/iobuf"
)

// Read-ahead (the package documentation states the model): detection and
// windows per open file (fd), invalidation per brick file.
//
// A readAhead belongs to the brick. Each fileCtx carries an raStream, the
// fd's sequential-read state and its chunks: bios of chunk bytes read
// ahead asynchronously through the file's bio.Device into pooled iobufs.
// Each brick file that has an fd doing data fops is registered in files,
// keyed by (st_dev, st_ino), with a generation that every fop changing the
// file's data or size bumps after the change is made, whichever fd (or
// path) it came through. Chunks are tagged with the generation read before
// they were submitted, and a readv serves from chunks only while the
// generation is still theirs at the end of the readv: a write that
// returned before the readv started has bumped it before the readv began,
// so chunks that could have missed the write are never served.

const (
	// raMinChunk and raMaxChunk bound the size of one read-ahead bio: the
	// window, up to 1 MiB; a larger window is several bios.
	raMinChunk = 128 << 10
	raMaxChunk = 1 << 20
	// raWorkers is the number of device workers a file's device starts on
	// its first asynchronous submission. One: the chunks of a stream are
	// then read in order, which the kernel's own read-ahead on the brick
	// file recognises as sequential; four workers reading quarter-window
	// chunks out of order measured slower (bench/README.md).
	raWorkers = 1
)

// raChunkSize is the size of one read-ahead bio for a window.
func raChunkSize(window int64) int {
	return int(min(max(window, raMinChunk), raMaxChunk, window))
}

// raStats is a snapshot of a brick's read-ahead for the statedump (posix's
// section, "read-ahead.*", and the bio section). Counters count from Init;
// gauges are the moment's.
type raStats struct {
	Window        int64  `json:"window"`         // read-ahead option: bytes kept ahead of a sequential reader
	Chunk         int    `json:"chunk"`          // bytes per read-ahead bio
	Total         int64  `json:"total"`          // read-ahead-total option: buffers the brick may hold
	Submitted     uint64 `json:"submitted"`      // read-ahead bios submitted
	BytesRead     uint64 `json:"bytes-read"`     // bytes they read
	Hits          uint64 `json:"hits"`           // readvs served wholly from read-ahead (no pread)
	PartialHits   uint64 `json:"partial-hits"`   // readvs served partly from read-ahead, the rest read
	Misses        uint64 `json:"misses"`         // sequential readvs that read-ahead had not covered
	HitBytes      uint64 `json:"hit-bytes"`      // bytes readvs took from read-ahead
	WastedBytes   uint64 `json:"wasted-bytes"`   // bytes read ahead and dropped without being served
	Errors        uint64 `json:"errors"`         // read-ahead bios that failed (dropped; the readv read normally)
	Invalidations uint64 `json:"invalidations"`  // windows dropped because the file changed
	Resets        uint64 `json:"resets"`         // windows dropped because the reads stopped being sequential
	Throttled     uint64 `json:"throttled"`      // read-ahead bios not submitted: read-ahead-total reached
	InFlight      int64  `json:"in-flight"`      // read-ahead bios submitted and not completed (gauge)
	HeldBytes     int64  `json:"held-bytes"`     // read-ahead buffers held, in flight or waiting (gauge)
	Files         int    `json:"files"`          // brick files with an fd registered (gauge)
	Epoch         uint64 `json:"invalidate-all"` // times every file's read-ahead was invalidated (an fstat failed)
}

// Sub returns the counters of s minus those of an earlier snapshot prev;
// gauges and configuration are s's.
func (s raStats) Sub(prev raStats) raStats {
	d := s
	d.Submitted -= prev.Submitted
	d.BytesRead -= prev.BytesRead
	d.Hits -= prev.Hits
	d.PartialHits -= prev.PartialHits
	d.Misses -= prev.Misses
	d.HitBytes -= prev.HitBytes
	d.WastedBytes -= prev.WastedBytes
	d.Errors -= prev.Errors
	d.Invalidations -= prev.Invalidations
	d.Resets -= prev.Resets
	d.Throttled -= prev.Throttled
	d.Epoch -= prev.Epoch
	return d
}

// readAhead is a brick's read-ahead: configuration, the registry of files
// with fds doing data fops, the memory budget and the statistics.
type readAhead struct {
	p      *Posix
	bp     *bioPath
	window int64 // bytes kept ahead of a sequential reader
	total  int64 // bytes of chunks the brick may hold
	chunk  int   // bytes per chunk

	mu     sync.Mutex
	files  map[fileKey]*raFile
	nfiles atomic.Int64 // len(files), read without mu

	// epoch is bumped when a change cannot be pinned to a file (its fstat
	// failed): every stream then drops its chunks.
	epoch atomic.Uint64

	held, inFlight atomic.Int64

	submitted, bytesRead, hits, partial, misses, hitBytes, wasted atomic.Uint64
	errors, invalidations, resets, throttled                      atomic.Uint64
}

// fileKey identifies a brick file: fds on the same file, through any name
// or hard link, share it.
type fileKey struct{ dev, ino uint64 }

// raFile is a registered brick file: refs fds hold it (under
// readAhead.mu), gen counts the changes made to its data through posix.
type raFile struct {
	key  fileKey
	refs int
	gen  atomic.Uint64
}

func newReadAhead(p *Posix, bp *bioPath, window, total int64) *readAhead {
	return &readAhead{p: p, bp: bp, window: window, total: total, chunk: raChunkSize(window),
		files: map[fileKey]*raFile{}}
}

// stats returns a snapshot.
func (ra *readAhead) stats() raStats {
	return raStats{
		Window: ra.window, Chunk: ra.chunk, Total: ra.total,
		Submitted: ra.submitted.Load(), BytesRead: ra.bytesRead.Load(),
		Hits: ra.hits.Load(), PartialHits: ra.partial.Load(), Misses: ra.misses.Load(),
		HitBytes: ra.hitBytes.Load(), WastedBytes: ra.wasted.Load(), Errors: ra.errors.Load(),
		Invalidations: ra.invalidations.Load(), Resets: ra.resets.Load(), Throttled: ra.throttled.Load(),
		InFlight: ra.inFlight.Load(), HeldBytes: ra.held.Load(), Files: int(ra.nfiles.Load()),
		Epoch: ra.epoch.Load(),
	}
}

// file returns the registered brick file of fc, registering it on first
// use; nil when it cannot be identified (fstat failed).
func (ra *readAhead) file(fc *fileCtx) *raFile {
	if f := fc.raf.Load(); f != nil {
		return f
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if f := fc.raf.Load(); f != nil {
		return f
	}
	var st unix.Stat_t
	if err := unix.Fstat(fc.fd, &st); err != nil {
		return nil
	}
	key := fileKey{dev: st.Dev, ino: st.Ino}
	ra.mu.Lock()
	f := ra.files[key]
	if f == nil {
		f = &raFile{key: key}
		ra.files[key] = f
		ra.nfiles.Add(1)
	}
	f.refs++
	ra.mu.Unlock()
	fc.raf.Store(f)
	return f
}

// gen is the generation chunks of f are tagged with.
func (ra *readAhead) gen(f *raFile) uint64 { return f.gen.Load() + ra.epoch.Load() }

// changed records that the data or size of fc's file changed; call it
// after the change is made (whether or not the fop succeeded). Safe on a
// nil readAhead (read-ahead off).
func (ra *readAhead) changed(fc *fileCtx) {
	if ra == nil {
		return
	}
	if f := ra.file(fc); f != nil {
		f.gen.Add(1)
		return
	}
	ra.epoch.Add(1)
}

// changedFd is changed for a change made through an fd posix does not
// track (an O_PATH fd of a Setattr, the fd of an O_TRUNC open before it
// is attached). Only files already registered can hold chunks; one that
// registers later submits its chunks after the change.
func (ra *readAhead) changedFd(fd int) {
	if ra == nil || ra.nfiles.Load() == 0 {
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		ra.epoch.Add(1)
		return
	}
	ra.mu.Lock()
	f := ra.files[fileKey{dev: st.Dev, ino: st.Ino}]
	if f != nil {
		f.gen.Add(1)
	}
	ra.mu.Unlock()
}

// release drops fc's chunks (those in flight are freed by their
// completion) and unregisters its file. Release calls it before closing
// the file's device, which waits for the bios in flight.
func (ra *readAhead) release(fc *fileCtx) {
	if ra == nil {
		return
	}
	s := &fc.ra
	s.mu.Lock()
	s.dropAll()
	s.mu.Unlock()
	f := fc.raf.Swap(nil)
	if f == nil {
		return
	}
	ra.mu.Lock()
	if f.refs--; f.refs == 0 {
		delete(ra.files, f.key)
		ra.nfiles.Add(-1)
	}
	ra.mu.Unlock()
}

// raStream is the read-ahead state of one open file, in its fileCtx.
type raStream struct {
	mu      sync.Mutex
	started bool       // a readv has been seen
	pos     int64      // where the next sequential readv starts
	run     int        // readvs in a row that continued the stream
	eof     int64      // where read-ahead found the end of the file, or -1
	gen     uint64     // the generation chunks were submitted at
	chunks  []*raChunk // ascending and contiguous
}

// reset prepares the stream of a new open file.
func (s *raStream) reset() {
	s.started, s.pos, s.run, s.eof, s.gen = false, 0, 0, -1, 0
	clear(s.chunks)
	s.chunks = s.chunks[:0]
}

// dropAll drops every chunk and reports how many there were.
func (s *raStream) dropAll() int {
	n := len(s.chunks)
	for _, c := range s.chunks {
		c.drop()
	}
	clear(s.chunks)
	s.chunks = s.chunks[:0]
	return n
}

// dropFrom drops chunk i and every later one.
func (s *raStream) dropFrom(i int) {
	for _, c := range s.chunks[i:] {
		c.drop()
	}
	clear(s.chunks[i:])
	s.chunks = s.chunks[:i]
}

// dropBelow drops the chunks that end at or before pos: the reader is
// past them.
func (s *raStream) dropBelow(pos int64) {
	i := 0
	for i < len(s.chunks) && s.chunks[i].end() <= pos {
		s.chunks[i].drop()
		i++
	}
	if i > 0 {
		k := copy(s.chunks, s.chunks[i:])
		clear(s.chunks[k:])
		s.chunks = s.chunks[:k]
	}
}

// raChunk is one read-ahead bio and the iobuf it reads into. The stream
// that submitted it owns it; the completion hands it back (done closed).
// A chunk dropped while in flight is abandoned: its completion frees it.
type raChunk struct {
	ra   *readAhead
	off  int64
	size int
	buf  *iobuf.Iobuf // the chunk's reference; the bio holds another
	b    *bio.Bio
	done chan struct{} // closed when the bio has completed

	// Set by the completion before done is closed.
	n   int
	err error

	served int // bytes readvs took from it (owner only)

	mu        sync.Mutex
	completed bool
	abandoned bool
}

func (c *raChunk) end() int64 { return c.off + int64(c.size) }

// raEndIO is the read-ahead bios' completion, on a device worker.
func raEndIO(b *bio.Bio) {
	c := b.Private.(*raChunk)
	c.n, c.err = b.Done(), b.Status()
	ra := c.ra
	ra.inFlight.Add(-1)
	ra.bytesRead.Add(uint64(c.n))
	if c.err != nil {
		ra.errors.Add(1)
	}
	c.mu.Lock()
	c.completed = true
	abandoned := c.abandoned
	c.mu.Unlock()
	close(c.done)
	if abandoned {
		c.free()
	}
}

// drop gives up the owner's claim: the chunk is freed now, or by its
// completion if it is in flight.
func (c *raChunk) drop() {
	c.mu.Lock()
	if !c.completed {
		c.abandoned = true
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.free()
}

// free releases the chunk's bio and buffer (readvs served from it hold
// their own references on the buffer) and its share of the budget.
func (c *raChunk) free() {
	ra := c.ra
	if w := c.n - c.served; w > 0 {
		ra.wasted.Add(uint64(w))
	}
	c.b.EndIO, c.b.Private = nil, nil
	c.b.Put()
	c.buf.Unref()
	c.b, c.buf = nil, nil
	ra.held.Add(-int64(c.size))
}

// reserve takes n bytes of the brick's read-ahead budget.
func (ra *readAhead) reserve(n int64) bool {
	for {
		h := ra.held.Load()
		if h+n > ra.total {
			return false
		}
		if ra.held.CompareAndSwap(h, h+n) {
			return true
		}
	}
}

// submit starts a read-ahead bio of one chunk at off on fc's device,
// tagged with gen; nil when the budget is spent.
func (ra *readAhead) submit(fc *fileCtx, off int64, gen uint64) *raChunk {
	if !ra.reserve(int64(ra.chunk)) {
		ra.throttled.Add(1)
		return nil
	}
	buf := ra.p.Iobufs().Get(ra.chunk)
	b := ra.bp.set.Alloc(1)
	b.Op, b.Offset = bio.OpRead, off
	if err := b.AddPage(buf, 0, ra.chunk); err != nil {
		panic(err) // cannot happen: one page in a fresh bio
	}
	c := &raChunk{ra: ra, off: off, size: ra.chunk, buf: buf, b: b, done: make(chan struct{})}
	b.EndIO, b.Private = raEndIO, c
	ra.submitted.Add(1)
	ra.inFlight.Add(1)
	ra.bp.device(fc).Submit(b)
	return c
}

// readv is Readv on a buffered file with read-ahead on: the part of [off,
// off+size) that chunks cover is served from their iobufs (waiting for
// those in flight), the rest is read as without read-ahead; then the
// stream advances and, when sequential, submits chunks to keep window
// bytes ahead of the reader. The iobref holds one reference for the caller.
func (ra *readAhead) readv(fc *fileCtx, size int, off int64) (*iobuf.Iobref, error) {
	f := ra.file(fc)
	if f == nil {
		return ra.p.readPlain(fc, size, off)
	}
	s := &fc.ra
	s.mu.Lock()
	defer s.mu.Unlock()
	gen := ra.gen(f)
	if gen != s.gen {
		if s.dropAll() > 0 {
			ra.invalidations.Add(1)
		}
		s.gen, s.eof = gen, -1
	}

	pool := ra.p.Iobufs()
	ref := pool.NewIobref()
	end := off + int64(size)
	pos, eof := off, false
	for i := 0; i < len(s.chunks) && pos < end; i++ {
		c := s.chunks[i]
		if c.end() <= pos {
			continue
		}
		if c.off > pos {
			break
		}
		<-c.done
		if c.err != nil {
			s.dropFrom(i) // never served; the rest is read below
			break
		}
		if got := c.off + int64(c.n) - pos; got > 0 {
			k := min(got, end-pos)
			ref.AddRange(c.buf, int(pos-c.off), int(k))
			c.served += int(k)
			pos += k
		}
		if c.n < c.size && pos >= c.off+int64(c.n) {
			eof = true // the file ended here when the chunk was read
			break
		}
	}
	if (pos > off || eof) && ra.gen(f) != gen {
		// The file changed while the chunks were read or waited for:
		// serve nothing from them.
		ref.Unref()
		ref = pool.NewIobref()
		pos, eof = off, false
		s.dropAll()
		ra.invalidations.Add(1)
		gen = ra.gen(f)
		s.gen, s.eof = gen, -1
	}
	fromRA := pos - off
	if pos < end && !eof {
		n, err := ra.p.readInto(fc, ref, int(end-pos), pos)
		if err != nil {
			ref.Unref()
			return nil, err
		}
		eof = n < int(end-pos)
		pos += int64(n)
	}
	ra.advance(fc, s, off, pos, fromRA, eof, gen)
	return ref, nil
}

// advance moves the stream past a readv of [off, end) of which fromRA
// bytes came from chunks, and keeps the window full when it is sequential.
func (ra *readAhead) advance(fc *fileCtx, s *raStream, off, end, fromRA int64, eof bool, gen uint64) {
	switch {
	case fromRA > 0 && (end-off == fromRA || eof):
		ra.hits.Add(1)
	case fromRA > 0:
		ra.partial.Add(1)
	case s.started && off == s.pos && s.run > 0:
		ra.misses.Add(1)
	}
	ra.hitBytes.Add(uint64(fromRA))
	seq := fromRA > 0 || (s.started && off == s.pos)
	switch {
	case seq:
		s.run++
		s.pos = max(s.pos, end)
		s.dropBelow(s.pos)
	case s.started && off >= s.pos-ra.window && off <= s.pos+ra.window:
		// Near the stream (requests of one reader arriving out of
		// order): neither a continuation nor a reason to drop it. Without
		// windows there is no stream yet to keep.
		s.pos = max(s.pos, end)
		if len(s.chunks) == 0 {
			s.run = 0
		}
	default:
		if s.dropAll() > 0 {
			ra.resets.Add(1)
		}
		s.run = 0
		s.pos = end
	}
	s.started = true
	if eof {
		s.eof = end
		for i, c := range s.chunks {
			if c.off >= end {
				s.dropFrom(i)
				break
			}
		}
		return
	}
	if !seq || s.run < 2 {
		return // not before two readvs in a row have continued the stream
	}
	next := s.pos
	if k := len(s.chunks); k > 0 {
		next = max(next, s.chunks[k-1].end())
	}
	limit := s.pos + ra.window
	if s.eof >= 0 {
		limit = min(limit, s.eof)
	}
	for next < limit {
		c := ra.submit(fc, next, gen)
		if c == nil {
			return
		}
		s.chunks = append(s.chunks, c)
		next = c.end()
	}
}
