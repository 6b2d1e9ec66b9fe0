package posix

import (
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestLseekHole: SEEK_DATA and SEEK_HOLE through the graph find the hole
// between two written ranges and the end of the file, as lseek(2) on the
// brick does.
func TestLseekHole(t *testing.T) {
	for _, path := range []string{"bio", "direct"} {
		t.Run(path, func(t *testing.T) {
			b := newBrick(t, map[string]string{"health-check-interval": "0", "data-path": path})
			_, fd := b.mustCreate(b.root(), "f")
			defer fd.Unref()
			const k = 64 << 10
			b.mustWrite(fd, 0, pattern(k, 1))
			b.mustWrite(fd, 16*k, pattern(k, 2)) // a hole of 15*k between
			c := b.call(xlator.FopLseek)
			defer c.Done()
			seek := func(off int64, whence uint32) (int64, error) { return b.top().Lseek(c, fd, off, whence) }
			if h, err := seek(0, xlator.SeekHole); err != nil {
				t.Fatal(err)
			} else if h == 17*k {
				t.Skip("the brick's file system reports no holes (SEEK_HOLE at 0 is the end of the file)")
			}
			for _, tc := range []struct {
				what   string
				off    int64
				whence uint32
				want   int64
				err    syscall.Errno
			}{
				{"first hole", 0, xlator.SeekHole, k, 0},
				{"data from the start", 0, xlator.SeekData, 0, 0},
				{"data after the hole", k, xlator.SeekData, 16 * k, 0},
				{"data from inside the hole", 3 * k, xlator.SeekData, 16 * k, 0},
				{"the end is a hole", 16 * k, xlator.SeekHole, 17 * k, 0},
				{"no data at the end", 17 * k, xlator.SeekData, 0, syscall.ENXIO},
				{"no hole past the end", 17 * k, xlator.SeekHole, 0, syscall.ENXIO},
				{"negative offset", -1, xlator.SeekData, 0, syscall.ENXIO},
				{"SEEK_END is the caller's", 0, 2, 0, syscall.EINVAL},
			} {
				got, err := seek(tc.off, tc.whence)
				if tc.err != 0 {
					errIs(t, tc.what, err, tc.err)
					continue
				}
				if err != nil || got != tc.want {
					t.Errorf("%s: lseek(%d, %d) = %d, %v; want %d", tc.what, tc.off, tc.whence, got, err, tc.want)
				}
			}
		})
	}
}
