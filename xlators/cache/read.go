package cache

import (
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// Readv serves the pages it has from the cache, without copying: the
// returned iobref holds ranges of the cached pages' iobufs (AddRange takes
// the iobref's own references, so eviction while the caller holds the
// iobref is safe). Each run of missing pages becomes one child readv of
// whole pages (extended by read-ahead on a sequential read) whose reply
// the pages keep by reference; readers that find a page being filled wait
// for that readv instead of issuing their own (single flight). Reads of
// files that are not cached (O_DIRECT fds, non-regular files, files
// outside min-file-size/max-file-size, priority 0) go to the child
// unchanged. The returned iobref holds one reference owned by the caller.
func (c *Cache) Readv(call *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if size <= 0 || off < 0 || int64(size) > c.cacheSize || !regular(fd) {
		c.bypassed.Add(1)
		return c.FirstChild().Readv(call, fd, size, off)
	}
	st := c.stateFor(fd.Inode)
	c.mu.Lock()
	if !c.closed && !st.checking && (!st.attrKnown || c.now()-st.checked >= c.timeout) {
		c.revalidateLocked(call, fd, st)
	}
	if c.closed || st.noPrio || !st.cacheable {
		c.mu.Unlock()
		c.bypassed.Add(1)
		return c.FirstChild().Readv(call, fd, size, off)
	}
	ref := c.Iobufs().NewIobref()
	err := c.readLocked(call, fd, st, ref, off, int64(size))
	c.mu.Unlock()
	if err != nil {
		ref.Unref()
		return nil, err
	}
	return ref, nil
}

// readLocked appends the bytes [off, off+size) of the file to ref, stopping
// at the end of the file. c.mu is held, and released while waiting for or
// doing a child readv.
func (c *Cache) readLocked(call *xlator.Call, fd *xlator.FD, st *inodeState, ref *iobuf.Iobref, off, size int64) error {
	end := off + size
	seq := c.readAhead > 0 && off == st.seqEnd
	st.seqEnd = end
	for pos := off; pos < end; {
		if st.attrKnown && pos >= st.size {
			// Past the end of the file as the last revalidation saw it;
			// any change through the stack since would have cleared
			// attrKnown.
			return nil
		}
		idx := pos >> c.shift
		p := st.pages[idx]
		if p != nil && p.state == pageReady {
			c.hits.Add(1)
			c.lrus[p.level].touch(p)
			in := int(pos - idx<<c.shift)
			if in >= p.n {
				return nil // past the end of the file
			}
			n := min(p.n-in, int(end-pos))
			ref.AddRange(p.buf, p.off+in, n)
			c.served.Add(uint64(n))
			pos += int64(n)
			if p.n < c.pageSize && in+n == p.n {
				return nil
			}
			continue
		}
		var f *fill
		if p != nil {
			f = p.fill
			f.refs++
			c.waits.Add(1)
			for !f.done {
				f.cond.Wait()
			}
			if f.err != nil {
				// Retry as a filler: another call's error (its cancelled
				// context, say) is not ours to return.
				c.leaveLocked(f)
				continue
			}
		} else {
			f = c.startFillLocked(st, idx, end, seq)
			c.mu.Unlock()
			data, err := c.FirstChild().Readv(call, fd, f.npages<<c.shift, f.first<<c.shift)
			c.mu.Lock()
			c.finishFillLocked(f, data, err)
			if err != nil {
				c.leaveLocked(f)
				return err
			}
		}
		n, eof := c.copyOut(ref, f, pos, end)
		pos += n
		c.leaveLocked(f)
		if eof {
			return nil
		}
	}
	return nil
}

// startFillLocked claims the run of missing pages from idx up to the page
// holding byte end-1 (stopping at the first page present), plus up to
// read-ahead further missing pages when the read is sequential, and
// returns the fill that will read them.
func (c *Cache) startFillLocked(st *inodeState, idx, end int64, seq bool) *fill {
	f := c.fillPool.Get()
	f.st, f.gen, f.first, f.pages, f.npages, f.ra = st, st.gen, idx, f.pages[:0], 0, 0
	f.done, f.data, f.err, f.refs = false, nil, nil, 1
	f.cond.L = &c.mu
	last := (end - 1) >> c.shift
	j := idx
	for ; j <= last && st.pages[j] == nil; j++ {
		c.claimLocked(f, st, j)
	}
	if seq && j > last {
		maxPages := int(c.cacheSize >> c.shift)
		for k := 0; k < c.readAhead && len(f.pages) < maxPages && st.pages[j] == nil; k++ {
			if st.attrKnown && j<<c.shift >= st.size {
				break // past the end of the file as last seen
			}
			c.claimLocked(f, st, j)
			f.ra++
			j++
		}
	}
	f.npages = len(f.pages)
	c.misses.Add(uint64(f.npages - f.ra))
	c.readahead.Add(uint64(f.ra))
	c.children.Add(1)
	st.fills = append(st.fills, f)
	return f
}

func (c *Cache) claimLocked(f *fill, st *inodeState, idx int64) {
	p := c.pagePool.Get()
	*p = page{st: st, idx: idx, state: pageFilling, fill: f, level: st.level}
	st.pages[idx] = p
	f.pages = append(f.pages, p)
}

// finishFillLocked records the child's reply in f, wakes its waiters and
// makes its pages ready — unless the file changed while the child was
// reading (the generation moved), the read failed, or a page was detached
// by an invalidation: those pages are dropped. Pages past the end of the
// file are not kept.
func (c *Cache) finishFillLocked(f *fill, data *iobuf.Iobref, err error) {
	st := f.st
	if err == nil && data == nil {
		data = c.Iobufs().NewIobref()
	} else if err != nil && data != nil {
		data.Unref() // the contract says nil on error; do not leak it
		data = nil
	}
	f.done, f.data, f.err = true, data, err
	for i, g := range st.fills {
		if g == f {
			last := len(st.fills) - 1
			st.fills[i] = st.fills[last]
			st.fills[last] = nil
			st.fills = st.fills[:last]
			break
		}
	}
	keep := err == nil && f.gen == st.gen && !c.closed
	size := 0
	if data != nil {
		size = data.Size()
	}
	var cur cursor
	for k, p := range f.pages {
		start := k << c.shift
		n := 0
		if keep {
			n = min(max(size-start, 0), c.pageSize)
		}
		if st.pages[p.idx] != p || n == 0 {
			if st.pages[p.idx] == p {
				delete(st.pages, p.idx)
			}
			p.st, p.fill = nil, nil
			_ = c.pagePool.Put(p)
			continue
		}
		buf, off := c.pageBuf(data, &cur, start, n, size)
		c.insertLocked(p, buf, off, n)
	}
	clear(f.pages)
	f.pages = f.pages[:0]
	f.cond.Broadcast()
	if keep {
		c.evictLocked()
	}
}

// leaveLocked drops the caller's hold on f; the last one frees it.
func (c *Cache) leaveLocked(f *fill) {
	if f.refs--; f.refs > 0 {
		return
	}
	if f.data != nil {
		f.data.Unref()
		f.data = nil
	}
	f.st, f.err = nil, nil
	_ = c.fillPool.Put(f)
}

// copyOut appends to ref the bytes [pos, end) that f read, as ranges of the
// reply's iobufs (no copy), and reports how many bytes it added and whether
// the file ended before end.
func (c *Cache) copyOut(ref *iobuf.Iobref, f *fill, pos, end int64) (int64, bool) {
	base := f.first << c.shift
	stop := min(end, base+int64(f.npages)<<c.shift)
	avail := base + int64(f.data.Size())
	eof := avail < stop
	if eof {
		stop = avail
	}
	if stop <= pos {
		return 0, eof
	}
	addSub(ref, f.data, int(pos-base), int(stop-base))
	return stop - pos, eof
}

// addSub appends the bytes [from, to) of src to dst as ranges of src's
// iobufs.
func addSub(dst, src *iobuf.Iobref, from, to int) {
	skip := from
	for i := 0; i < src.Len() && from < to; i++ {
		b, o, n := src.Entry(i)
		if skip >= n {
			skip -= n
			continue
		}
		take := min(n-skip, to-from)
		dst.AddRange(b, o+skip, take)
		from += take
		skip = 0
	}
}

// cursor walks the segments of a reply in order, and remembers for the
// segment it last looked at whether its pages share its iobuf.
type cursor struct {
	seg   int  // current segment
	base  int  // byte offset of its start in the reply
	plan  int  // the segment share was decided for, plus one (0: none yet)
	share bool // the pages wholly inside segment plan-1 keep its iobuf by reference
}

// pageBuf returns an iobuf and offset holding the bytes [start, start+n) of
// a fill's reply of size bytes, with a reference for the page. The page
// keeps the reply's own iobuf (no copy) when one segment holds all its
// bytes and shares says that iobuf is worth pinning; otherwise the bytes
// are copied, once, into a new iobuf of the smallest class that holds n
// bytes (counted as copied-pages).
func (c *Cache) pageBuf(data *iobuf.Iobref, cur *cursor, start, n, size int) (*iobuf.Iobuf, int) {
	for cur.seg < data.Len() {
		_, _, sn := data.Entry(cur.seg)
		if cur.base+sn > start {
			break
		}
		cur.base += sn
		cur.seg++
	}
	b, o, sn := data.Entry(cur.seg)
	if in := start - cur.base; in+n <= sn {
		if cur.plan != cur.seg+1 {
			cur.plan, cur.share = cur.seg+1, c.shares(b, cur.base, sn, size)
		}
		if cur.share {
			b.Ref()
			return b, o + in
		}
	}
	nb := c.Iobufs().Get(n)
	dst := nb.Bytes()[:n]
	at, skip := 0, start-cur.base
	for i := cur.seg; i < data.Len() && at < n; i++ {
		seg := data.Seg(i)
		at += copy(dst[at:], seg[skip:])
		skip = 0
	}
	c.copied.Add(1)
	return nb, 0
}

// shares reports whether the pages that lie wholly inside the reply segment
// [base, base+sn) of a fill's reply of size bytes should keep that
// segment's iobuf b by reference rather than be copied into right-sized
// iobufs. They share it when iobufs of the smallest classes that hold
// them would take more than half of b: copying would then save less than
// half of it, for the price of a copy. They never
// share memory that b only borrows (a plugin's shared-memory slot, larger
// than the bytes it lends and scarce), nor an iobuf larger than cache-size,
// which could not be cached at all.
func (c *Cache) shares(b *iobuf.Iobuf, base, sn, size int) bool {
	if b.Borrowed() || int64(b.PageSize()) > c.cacheSize {
		return false
	}
	pool := c.Iobufs()
	need := 0
	for start := (base + c.pageSize - 1) &^ (c.pageSize - 1); start < size; start += c.pageSize {
		n := min(size-start, c.pageSize)
		if start+n > base+sn {
			break
		}
		need += pool.ClassSize(n)
	}
	return 2*need > b.PageSize()
}

// revalidateLocked asks the child for the file's attributes and drops its
// pages when mtime or size differ from those recorded at the last
// revalidation: the file changed behind the cache. It records the new
// attributes and whether the size is cacheable. c.mu is held and released
// during the child's fstat; other readers meanwhile serve from the pages
// they find.
func (c *Cache) revalidateLocked(call *xlator.Call, fd *xlator.FD, st *inodeState) {
	st.checking = true
	gen := st.gen
	c.mu.Unlock()
	ia, err := c.FirstChild().Fstat(call, fd)
	c.mu.Lock()
	st.checking = false
	c.revalidations.Add(1)
	if c.closed {
		return
	}
	if err != nil {
		c.dropAllLocked(st)
		st.attrKnown = false
		return
	}
	if st.gen != gen {
		return // the stack changed the file meanwhile: record next time
	}
	c.recordLocked(st, &ia)
}

// recordLocked makes ia the attributes st's pages are revalidated
// against. A change from the recorded ones (the file changed behind the
// cache) drops the pages, counted as a stale drop and reported to the
// graph's front ends, which drop what they cache of the file too; a size
// outside min-file-size and max-file-size drops them as well. c.mu is
// held.
func (c *Cache) recordLocked(st *inodeState, ia *xlator.Iatt) {
	if st.attrKnown && (ia.Mtime != st.mtime || ia.Size != st.size) {
		c.dropAllLocked(st)
		c.staleDrops.Add(1)
		c.Graph().Invalidate(st.in)
	}
	st.mtime, st.size, st.attrKnown, st.checked = ia.Mtime, ia.Size, true, c.now()
	st.cacheable = c.cacheableSize(ia.Size)
	if !st.cacheable && len(st.pages) > 0 {
		c.dropAllLocked(st)
	}
}
