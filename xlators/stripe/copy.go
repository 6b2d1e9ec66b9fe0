package stripe

import (
	"errors"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// CopyFileRange copies [srcOff, srcOff+length) of src to dstOff in dst,
// cut at src's logical end, in segments that lie in one block of each
// file (the two files may have different geometries, and the two offsets
// need not be aligned). A segment whose source and destination blocks sit
// on the same child is that child's copy, between its two files (posix
// then asks the kernel, no byte coming up); the others, and the part of a
// segment the child copied short (its file ends early: a hole of the
// logical file, which reads as zeroes), go through stripe's own readv and
// writev (xlator.CopyByReadWrite on Self), consecutive ones together.
// Segments are copied in file order, one at a time; a caller that gave
// up (xlator.Call.GaveUp) stops the copy between them. An error after some
// progress returns the progress (a short copy), as the fop's contract
// says. The counters copy-child-bytes and copy-readwrite-bytes say how
// much went which way.
func (s *Stripe) CopyFileRange(c *xlator.Call, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64, flags uint32) (int64, error) {
	xs, err := s.inodeOf(c, src.Inode)
	if err != nil {
		return 0, err
	}
	xd, err := s.inodeOf(c, dst.Inode)
	if err != nil {
		return 0, err
	}
	size, err := s.size(c, src, xs.geo)
	if err != nil {
		return 0, err
	}
	if srcOff >= size {
		return 0, nil
	}
	length = min(length, size-srcOff)
	children := s.Children()
	var done int64   // copied from the start
	var rwFrom int64 // start of the run of segments waiting for readv and writev
	// readWrite copies [rwFrom, to) of the range by readv and writev.
	readWrite := func(to int64) error {
		if to <= rwFrom {
			return nil
		}
		n, err := xlator.CopyByReadWrite(c, s.Self(), src, srcOff+rwFrom, dst, dstOff+rwFrom, to-rwFrom)
		s.copyRW.Add(uint64(n))
		done = rwFrom + n
		if err == nil && n < to-rwFrom {
			err = errShort
		}
		rwFrom = done
		return err
	}
	for pos := int64(0); pos < length; {
		if c.GaveUp() {
			return result(done, syscall.ECANCELED)
		}
		so, do := srcOff+pos, dstOff+pos
		l := min(xs.geo.BlockSize-so%xs.geo.BlockSize, xd.geo.BlockSize-do%xd.geo.BlockSize, length-pos)
		cs, cso := xs.geo.Locate(so)
		cd, cdo := xd.geo.Locate(do)
		if cs != cd {
			pos += l
			continue // joins the run for readv and writev
		}
		if err := readWrite(pos); err != nil {
			return result(done, err)
		}
		if err := s.childUp(cs); err != nil {
			return result(done, err)
		}
		n, err := children[cs].CopyFileRange(c, src, cso, dst, cdo, l, flags)
		if err != nil {
			return result(done, err)
		}
		s.copyChild.Add(uint64(n))
		s.pieces.Add(1)
		done = pos + n
		rwFrom = done // a short child copy: the rest by readv and writev
		pos += l
	}
	if err := readWrite(length); err != nil {
		return result(done, err)
	}
	return done, nil
}

// errShort marks a copy by readv and writev that stopped early: the
// source shrank meanwhile, or the call was interrupted. It never leaves
// CopyFileRange, which then returns what it copied.
var errShort = errors.New("stripe: short copy")

// result is CopyFileRange's answer after done bytes and err: the
// progress when there is some, else the error.
func result(done int64, err error) (int64, error) {
	if done > 0 || err == errShort {
		return done, nil
	}
	return 0, err
}
