package stripe

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

// TestLseekOverPosix: SEEK_DATA and SEEK_HOLE through stripe over two
// posix bricks find the file's holes and its end, with and without
// Coalesce (without it, every child file is sparse in the other's blocks,
// which stripe must step over).
func TestLseekOverPosix(t *testing.T) {
	for _, coalesce := range []bool{false, true} {
		t.Run(fmt.Sprintf("coalesce=%v", coalesce), func(t *testing.T) {
			reg := registry()
			posix.Register(reg)
			spec := &xlator.Spec{Source: "<test>", Top: "s", Volumes: []xlator.VolumeSpec{
				{Name: "s", Type: TypeName, Subvolumes: []string{"b0", "b1"}, Options: options(kb16, coalesce)}}}
			for i := range 2 {
				o := xlator.NewOptions()
				o.Set("directory", xlator.Value{Kind: xlator.KindPath, Str: t.TempDir()}, true)
				o.Set("health-check-interval", xlator.Value{Kind: xlator.KindDuration}, true)
				spec.Volumes = append(spec.Volumes, xlator.VolumeSpec{Name: fmt.Sprintf("b%d", i), Type: posix.TypeName, Options: o})
			}
			g := xlatortest.Start(t, spec, reg, nil)
			e := &env{t: t, g: g, s: xlator.Unwrap(g.Top()).(*Stripe), n: 2}
			_, fd := e.mustCreate("f")
			defer fd.Unref()
			const b = kb16
			e.mustWrite(fd, 0, make([]byte, 2*b))  // blocks 0 (child 0) and 1 (child 1)
			e.mustWrite(fd, 10*b, make([]byte, b)) // block 10 (child 0); 2-9 a hole
			c := e.call(xlator.FopLseek)
			defer c.Done()
			top := g.Top()
			if h, err := top.Lseek(c, fd, 0, xlator.SeekHole); err == nil && h == 11*b {
				t.Skip("the bricks' file system reports no holes")
			}
			for _, tc := range []struct {
				what   string
				off    int64
				whence uint32
				want   int64
				err    syscall.Errno
			}{
				{"first hole", 0, xlator.SeekHole, 2 * b, 0},
				{"first hole from child 1's block", b + 5, xlator.SeekHole, 2 * b, 0},
				{"data at the start", 0, xlator.SeekData, 0, 0},
				{"data inside child 1's block", b + 5, xlator.SeekData, b + 5, 0},
				{"data after the hole", 2 * b, xlator.SeekData, 10 * b, 0},
				{"data from inside the hole", 5*b + 7, xlator.SeekData, 10 * b, 0},
				{"the end is a hole", 10 * b, xlator.SeekHole, 11 * b, 0},
				{"no data at the end", 11 * b, xlator.SeekData, 0, syscall.ENXIO},
				{"no hole past the end", 12 * b, xlator.SeekHole, 0, syscall.ENXIO},
			} {
				got, err := top.Lseek(c, fd, tc.off, tc.whence)
				if tc.err != 0 {
					if err != tc.err {
						t.Errorf("%s: lseek(%d, %d) = %d, %v; want %v", tc.what, tc.off, tc.whence, got, err, tc.err)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Errorf("%s: lseek(%d, %d) = %d, %v; want %d", tc.what, tc.off, tc.whence, got, err, tc.want)
				}
			}
		})
	}
}

// TestNextBlockOf: the next block a child holds, for each child and
// offset of a three-way stripe.
func TestNextBlockOf(t *testing.T) {
	g := Geometry{BlockSize: 512, Count: 3}
	for _, tc := range []struct {
		k         int
		off, want int64
	}{
		{0, 0, 3 * 512}, {1, 0, 512}, {2, 0, 1024}, {0, 511, 3 * 512}, {1, 512, 4 * 512}, {2, 512, 2 * 512}, {0, 3*512 + 1, 6 * 512},
	} {
		if got := nextBlockOf(g, tc.k, tc.off); got != tc.want {
			t.Errorf("nextBlockOf(child %d, %d) = %d, want %d", tc.k, tc.off, got, tc.want)
		}
	}
}
