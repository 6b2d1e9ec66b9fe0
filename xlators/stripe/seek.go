package stripe

import (
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// maxSeekSteps bounds the child lseeks one child's answer may take: each
// step skips a run of data (or hole) in the child's file that ends in
// another child's block. Past it the search stops where it is, which
// lseek(2) allows: a hole may be reported as data, and the end of the
// file is always a hole.
const maxSeekSteps = 256

// Lseek finds the first data or hole at or after off by asking every
// child, in parallel, for the first data or hole in the blocks it holds
// from there, block by block where its file's answer lands in another
// child's block (a sparse child file without Coalesce), and takes the
// nearest. The end of the file is a hole; data past it is not looked
// for.
func (s *Stripe) Lseek(c *xlator.Call, fd *xlator.FD, off int64, whence uint32) (int64, error) {
	if whence != xlator.SeekData && whence != xlator.SeekHole {
		return 0, syscall.EINVAL
	}
	if off < 0 {
		return 0, syscall.ENXIO
	}
	x, err := s.inodeOf(c, fd.Inode)
	if err != nil {
		return 0, err
	}
	g := x.geo
	size, err := s.size(c, fd, g)
	if err != nil {
		return 0, err
	}
	if off >= size {
		return 0, syscall.ENXIO
	}
	n := len(s.Children())
	found := make([]int64, n) // per child: the answer in file offsets, or size for none
	errs := make([]error, n)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		found[i], errs[i] = seekChild(c, ch, fd, g, i, off, whence, size)
	})
	if err := firstErr(errs); err != nil {
		return 0, err
	}
	best := size
	for _, f := range found {
		best = min(best, f)
	}
	if whence == xlator.SeekData && best >= size {
		return 0, syscall.ENXIO
	}
	return best, nil
}

// seekChild returns the first file offset at or after off, in the blocks
// child k holds, that is data (or a hole) in k's file; size when there
// is none before the end of the file.
func seekChild(c *xlator.Call, ch xlator.Xlator, fd *xlator.FD, g Geometry, k int, off int64, whence uint32, size int64) (int64, error) {
	pos := off
	if owner, _ := g.Locate(pos); owner != k {
		pos = nextBlockOf(g, k, pos)
	}
	for range maxSeekSteps {
		if pos >= size {
			return size, nil
		}
		_, co := g.Locate(pos)
		r, err := ch.Lseek(c, fd, co, whence)
		switch {
		case err == syscall.ENXIO && whence == xlator.SeekData:
			return size, nil // no data in k's file from co on
		case err == syscall.ENXIO:
			return pos, nil // past the end of k's file: zeroes, a hole
		case err != nil:
			return 0, err
		}
		lp := g.FileOffset(k, r)
		if owner, _ := g.Locate(lp); owner == k {
			return min(lp, size), nil
		}
		// The answer lies in another child's block (k's file is sparse
		// there): k's own blocks from pos to it are all the other kind.
		pos = nextBlockOf(g, k, lp)
	}
	if whence == xlator.SeekData {
		return pos, nil // a hole reported as data
	}
	return size, nil
}

// nextBlockOf returns the file offset of the first block after the one
// holding off that child k holds.
func nextBlockOf(g Geometry, k int, off int64) int64 {
	n := int64(g.Count)
	b := off/g.BlockSize + 1
	b += ((int64(k)-b%n)%n + n) % n
	return b * g.BlockSize
}
