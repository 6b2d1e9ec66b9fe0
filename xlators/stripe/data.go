package stripe

import (
	"syscall"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// The data path: a request on a file range is split into pieces (one per
// block), the pieces grouped into runs (one request to one child), and the
// runs issued to the children in parallel, one goroutine per child that
// has runs, the runs of one child one after the other. Data never gets
// copied: a write hands each child an iobref over the caller's own iobufs,
// a read returns an iobref over the children's iobufs in file order.

// plan splits [off, off+n) of a file with geometry g into l's pieces and
// runs, and lists the children that have runs. It fails with ENOTCONN
// when one of them is down.
func (s *Stripe) plan(l *local, g Geometry, off, n int64) error {
	l.pieces = g.Split(l.pieces, off, n)
	l.runs = Plan(l.runs, l.pieces)
	for _, r := range l.runs {
		seen := false
		for _, w := range l.workers {
			seen = seen || w == r.Child
		}
		if !seen {
			if err := s.childUp(r.Child); err != nil {
				return err
			}
			l.workers = append(l.workers, r.Child)
		}
	}
	l.errs = grow(l.errs, len(l.runs))
	s.pieces.Add(uint64(len(l.runs)))
	return nil
}

// dispatch calls fn for every run of l, in parallel across children and in
// order within one child, and returns when all have returned.
func (s *Stripe) dispatch(c *xlator.Call, l *local, fn func(c *xlator.Call, ch xlator.Xlator, r int)) {
	children := s.Children()
	fanout(c, len(l.workers), func(c *xlator.Call, j int) {
		child := l.workers[j]
		for r := range l.runs {
			if l.runs[r].Child == child {
				fn(c, children[child], r)
			}
		}
	})
}

// cursor walks an iobref's segments forward: segment i starts at byte at.
type cursor struct {
	i  int
	at int64
}

// appendRange appends src's bytes [from, from+n) to dst as segments over
// the same iobufs (dst takes its own references). cur must not be past
// from; it is left where the range ends, so consecutive ranges cost one
// pass over src.
func appendRange(dst, src *iobuf.Iobref, cur *cursor, from, n int64) {
	for n > 0 {
		b, off, l := src.Entry(cur.i)
		end := cur.at + int64(l)
		if from >= end {
			cur.i++
			cur.at = end
			continue
		}
		skip := from - cur.at
		take := min(int64(l)-skip, n)
		dst.AddRange(b, off+int(skip), int(take))
		from += take
		n -= take
	}
}

// size returns the logical size of an open file from its children's
// sizes.
func (s *Stripe) size(c *xlator.Call, fd *xlator.FD, g Geometry) (int64, error) {
	ia, err := s.fstatAll(c, fd, g)
	return ia.Size, err
}

// fstatAll merges an fstat of every child of an open regular file whose
// geometry the caller knows (fileAttr), without judging the answers as
// Fstat does: for stripe's own use on a file it holds open.
func (s *Stripe) fstatAll(c *xlator.Call, fd *xlator.FD, g Geometry) (xlator.Iatt, error) {
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	n := len(s.Children())
	ias := make([]xlator.Iatt, n)
	errs := make([]error, n)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		ias[i], errs[i] = ch.Fstat(c, fd)
	})
	if err := firstErr(errs); err != nil {
		return xlator.Iatt{}, err
	}
	return fileAttr(g, ias), nil
}

// Readv reads the pieces of [off, off+size) from their children in
// parallel and returns them as one iobref in file order, over the
// children's own iobufs. A child whose file ends inside a piece is asked
// nothing more: if any piece came back short, the file's logical size is
// found (an fstat of every child); bytes below it that no child holds are
// a hole and read as zeroes (one zeroed iobuf from the pool), and the
// result ends at the logical size, as a read past the end of a file does.
func (s *Stripe) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if off < 0 || size < 0 {
		return nil, syscall.EINVAL
	}
	s.reads.Add(1)
	if size == 0 {
		return s.Iobufs().NewIobref(), nil
	}
	x, err := s.inodeOf(c, fd.Inode)
	if err != nil {
		return nil, err
	}
	l := s.getLocal(0)
	defer s.putLocal(l)
	if err := s.plan(l, x.geo, off, int64(size)); err != nil {
		return nil, err
	}
	l.refs = grow(l.refs, len(l.runs))
	s.dispatch(c, l, func(c *xlator.Call, ch xlator.Xlator, r int) {
		l.refs[r], l.errs[r] = ch.Readv(c, fd, int(l.runs[r].Len), l.runs[r].ChildOff)
	})
	defer func() {
		for _, ref := range l.refs {
			if ref != nil {
				ref.Unref()
			}
		}
	}()
	if err := firstErr(l.errs); err != nil {
		return nil, err
	}

	limit := off + int64(size)
	for r, ref := range l.refs {
		if int64(ref.Size()) < l.runs[r].Len {
			s.sizeProbes.Add(1)
			end, err := s.size(c, fd, x.geo)
			if err != nil {
				return nil, err
			}
			limit = min(limit, end)
			break
		}
	}
	// Each piece: want is what the file has there, got what its child gave.
	var holes int64
	for i := range l.pieces {
		p := &l.pieces[i]
		want := min(max(limit-(off+p.Pos), 0), p.Len)
		got := min(max(int64(l.refs[p.Run].Size())-p.RunOff, 0), want)
		holes += want - got
	}
	out := s.Iobufs().NewIobref()
	var zero *iobuf.Iobuf
	if holes > 0 {
		zero = s.Iobufs().Get(int(holes))
		clear(zero.Bytes()[:holes])
		s.holeBytes.Add(uint64(holes))
	}
	var zoff int64
	l.curs = grow(l.curs, len(l.runs))
	for i := range l.pieces {
		p := &l.pieces[i]
		want := min(max(limit-(off+p.Pos), 0), p.Len)
		if want == 0 {
			break // pieces are in file order: the rest are past the end too
		}
		ref := l.refs[p.Run]
		got := min(max(int64(ref.Size())-p.RunOff, 0), want)
		appendRange(out, ref, &l.curs[p.Run], p.RunOff, got)
		if got < want {
			out.AddRange(zero, int(zoff), int(want-got))
			zoff += want - got
		}
	}
	if zero != nil {
		zero.Unref()
	}
	return out, nil
}

// Writev writes each child's pieces of data to it, in parallel, through
// iobrefs over the caller's iobufs (no copy; released before returning).
// With O_APPEND the write goes to the file's logical end, found under a
// per-inode lock so appends do not interleave. A short count, the bytes
// written from off before the first piece that failed, comes with the
// error.
func (s *Stripe) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	s.writes.Add(1)
	total := int64(data.Size())
	if total == 0 {
		return 0, nil
	}
	x, err := s.inodeOf(c, fd.Inode)
	if err != nil {
		return 0, err
	}
	if fd.Flags&syscall.O_APPEND != 0 {
		x.appendMu.Lock()
		defer x.appendMu.Unlock()
		if off, err = s.size(c, fd, x.geo); err != nil {
			return 0, err
		}
	}
	l := s.getLocal(0)
	defer s.putLocal(l)
	if err := s.plan(l, x.geo, off, total); err != nil {
		return 0, err
	}
	l.refs = grow(l.refs, len(l.runs))
	l.ns = grow(l.ns, len(l.runs))
	for r := range l.runs {
		l.refs[r] = s.Iobufs().NewIobref()
	}
	var cur cursor
	for i := range l.pieces {
		p := &l.pieces[i]
		appendRange(l.refs[p.Run], data, &cur, p.Pos, p.Len)
	}
	s.dispatch(c, l, func(c *xlator.Call, ch xlator.Xlator, r int) {
		l.ns[r], l.errs[r] = ch.Writev(c, fd, l.refs[r], l.runs[r].ChildOff)
	})
	for _, ref := range l.refs {
		ref.Unref()
	}
	err = firstErr(l.errs)
	if err == nil {
		return int(total), nil
	}
	var done int64
	for i := range l.pieces {
		p := &l.pieces[i]
		if l.errs[p.Run] != nil || int64(l.ns[p.Run]) < p.RunOff+p.Len {
			break
		}
		done += p.Len
	}
	return int(done), err
}

// ranged runs fn on every run of [off, off+length): fallocate, discard and
// zerofill, which act on a range as a write does.
func (s *Stripe) ranged(c *xlator.Call, fd *xlator.FD, off, length int64,
	fn func(c *xlator.Call, ch xlator.Xlator, r Run) error) error {
	if off < 0 || length <= 0 {
		return syscall.EINVAL
	}
	x, err := s.inodeOf(c, fd.Inode)
	if err != nil {
		return err
	}
	l := s.getLocal(0)
	defer s.putLocal(l)
	if err := s.plan(l, x.geo, off, length); err != nil {
		return err
	}
	s.dispatch(c, l, func(c *xlator.Call, ch xlator.Xlator, r int) {
		l.errs[r] = fn(c, ch, l.runs[r])
	})
	return firstErr(l.errs)
}

// Fallocate applies mode to each child's share of the range. Without
// FallocKeepSize a child's file grows only to the end of its own share,
// which is what the logical size needs.
func (s *Stripe) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	return s.ranged(c, fd, off, length, func(c *xlator.Call, ch xlator.Xlator, r Run) error {
		return ch.Fallocate(c, fd, mode, r.ChildOff, r.Len)
	})
}

// Discard deallocates each child's share of the range.
func (s *Stripe) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	return s.ranged(c, fd, off, length, func(c *xlator.Call, ch xlator.Xlator, r Run) error {
		return ch.Discard(c, fd, r.ChildOff, r.Len)
	})
}

// Zerofill zeroes each child's share of the range, extending the file.
func (s *Stripe) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	return s.ranged(c, fd, off, length, func(c *xlator.Call, ch xlator.Xlator, r Run) error {
		return ch.Zerofill(c, fd, r.ChildOff, r.Len)
	})
}

// Flush goes to every child.
func (s *Stripe) Flush(c *xlator.Call, fd *xlator.FD) error {
	return s.onAll(c, func(c *xlator.Call, ch xlator.Xlator) error { return ch.Flush(c, fd) })
}

// Fsync goes to every child: the file is durable when every part of it is.
func (s *Stripe) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	return s.onAll(c, func(c *xlator.Call, ch xlator.Xlator) error { return ch.Fsync(c, fd, datasync) })
}

// Fsyncdir goes to every child.
func (s *Stripe) Fsyncdir(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	return s.onAll(c, func(c *xlator.Call, ch xlator.Xlator) error { return ch.Fsyncdir(c, fd, datasync) })
}

// onAll runs fn on every child in parallel and returns the first error; for
// fops that change nothing the children could disagree about.
func (s *Stripe) onAll(c *xlator.Call, fn func(c *xlator.Call, ch xlator.Xlator) error) error {
	if err := s.allUp(); err != nil {
		return err
	}
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.errs[i] = fn(c, ch) })
	return firstErr(l.errs)
}
