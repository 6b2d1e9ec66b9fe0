package stripe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

func (e *env) copyRange(src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64) (int64, error) {
	c := e.call(xlator.FopCopyFileRange)
	defer c.Done()
	return e.g.Top().CopyFileRange(c, src, srcOff, dst, dstOff, length, 0)
}

// copyModel is copy_file_range(2)'s effect on dst's contents.
func copyModel(dst, src []byte, srcOff, dstOff, length int64) ([]byte, int64) {
	n := max(0, min(length, int64(len(src))-srcOff))
	if n == 0 {
		return dst, 0
	}
	if end := dstOff + n; end > int64(len(dst)) {
		dst = append(dst, make([]byte, end-int64(len(dst)))...)
	}
	copy(dst[dstOff:], src[srcOff:srcOff+n])
	return dst, n
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestCopyRandom copies random unaligned ranges that cross blocks and
// children, between files of one geometry and of two (a 64 KiB block
// file and a 16 KiB one), within one file, past the source's end and
// into a hole past the destination's, and checks every file against a
// model after each copy: both ways of copying (the children's own copy
// where the blocks meet on one child, readv and writev elsewhere) are
// used.
func TestCopyRandom(t *testing.T) {
	for _, n := range []int{2, 3} {
		for _, co := range []bool{false, true} {
			t.Run(fmt.Sprintf("children=%d/coalesce=%v", n, co), func(t *testing.T) {
				e := newEnv(t, n, options(kb16, co, xlator.Pattern{Glob: "*.big", Value: 4 * kb16}))
				rng := rand.New(rand.NewPCG(uint64(n), 11))
				names := []string{"a", "b", "c.big"}
				fds := make([]*xlator.FD, len(names))
				models := make([][]byte, len(names))
				for i, name := range names {
					_, fds[i] = e.mustCreate(name)
					models[i] = randomBytes(rng, 200<<10+rng.IntN(50<<10))
					e.mustWrite(fds[i], 0, models[i])
				}
				for op := range 150 {
					s, d := rng.IntN(len(names)), rng.IntN(len(names))
					srcOff := rng.Int64N(int64(len(models[s])) + 20<<10)
					dstOff := rng.Int64N(int64(len(models[d])) + 40<<10)
					length := 1 + rng.Int64N(120<<10)
					if op%10 == 0 { // same child offset modulo a row: whole blocks meet
						dstOff = srcOff%(int64(n)*kb16) + int64(rng.IntN(4))*int64(n)*kb16
					}
					if s == d {
						cut := min(length, max(0, int64(len(models[s]))-srcOff))
						if srcOff < dstOff+cut && dstOff < srcOff+cut {
							continue // refused by the graph: TestCopyArgs in package xlator
						}
					}
					want, wantN := copyModel(append([]byte(nil), models[d]...), models[s], srcOff, dstOff, length)
					got, err := e.copyRange(fds[s], srcOff, fds[d], dstOff, length)
					if err != nil || got != wantN {
						t.Fatalf("op %d: copy %s[%d:+%d] to %s@%d: %d, %v; want %d", op, names[s], srcOff, length, names[d], dstOff, got, err, wantN)
					}
					models[d] = want
					if data := e.mustRead(fds[d], 0, len(models[d])+100); !bytes.Equal(data, models[d]) {
						t.Fatalf("op %d: %s differs from the model after copying %s[%d:+%d] to %d: %d bytes, want %d, first difference at %d",
							op, names[d], names[s], srcOff, length, dstOff, len(data), len(models[d]), firstDiff(data, models[d]))
					}
				}
				if st := e.s.Stats(); st.CopyChildBytes == 0 || st.CopyReadWriteBytes == 0 {
					t.Errorf("a way of copying was never used: %+v", st)
				}
			})
		}
	}
}

// TestCopyOverPosix: through stripe over two posix bricks, blocks that
// meet on one child are copied by the brick's kernel (no readv reaches
// the bricks), a hole of the source (a child file that ends early)
// comes out as zeroes over the destination's old bytes, and blocks that
// land on another child go by readv and writev.
func TestCopyOverPosix(t *testing.T) {
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
			_, src := e.mustCreate("src")
			_, dst := e.mustCreate("dst")
			const b = kb16
			// src: block 0 (child 0) and block 3 (child 1); blocks 1 and 2
			// are a hole, and child 0's file ends after block 0.
			srcData := make([]byte, 4*b)
			copy(srcData, bytes.Repeat([]byte{1}, b))
			copy(srcData[3*b:], bytes.Repeat([]byte{3}, b))
			e.mustWrite(src, 0, srcData[:b])
			e.mustWrite(src, 3*b, srcData[3*b:])
			dstData := bytes.Repeat([]byte{0xff}, 5*b)
			e.mustWrite(dst, 0, dstData)
			stats := func(name string) xlator.XlatorStats {
				for _, x := range g.Xlators() {
					if x.Name == name {
						return x.Stats
					}
				}
				t.Fatalf("no volume %s", name)
				return xlator.XlatorStats{}
			}
			reads := stats("b0").Count(xlator.FopReadv) + stats("b1").Count(xlator.FopReadv)
			// Aligned: every block meets itself on its child.
			if n, err := e.copyRange(src, 0, dst, 0, 4*b); err != nil || n != 4*b {
				t.Fatalf("aligned copy: %d, %v", n, err)
			}
			readsDuring := stats("b0").Count(xlator.FopReadv) + stats("b1").Count(xlator.FopReadv) - reads
			dstData, _ = copyModel(dstData, srcData, 0, 0, 4*b)
			equal(t, "dst after the aligned copy", e.mustRead(dst, 0, 6*b), dstData)
			// Block 2's child copy came back short (child 0's src file ends
			// at block 0): only that block went by readv, through stripe.
			if st := e.s.Stats(); st.CopyChildBytes != 3*b || st.CopyReadWriteBytes != b {
				t.Errorf("child bytes %d, readv/writev bytes %d; want %d and %d", st.CopyChildBytes, st.CopyReadWriteBytes, 3*b, b)
			}
			if readsDuring > 1 {
				t.Errorf("%d readvs reached the bricks for one block of hole", readsDuring)
			}
			if stats("b0").Count(xlator.FopCopyFileRange) == 0 || stats("b1").Count(xlator.FopCopyFileRange) == 0 {
				t.Error("a brick was never asked to copy")
			}
			// Unaligned, shifted by one block: every block lands on the
			// other child.
			if n, err := e.copyRange(src, 100, dst, b+100, 3*b); err != nil || n != 3*b {
				t.Fatalf("shifted copy: %d, %v", n, err)
			}
			dstData, _ = copyModel(dstData, srcData, 100, b+100, 3*b)
			equal(t, "dst after the shifted copy", e.mustRead(dst, 0, 6*b), dstData)
		})
	}
}

// TestCopyChildDown: a copy that needs a child that is down fails with
// ENOTCONN and copies nothing.
func TestCopyChildDown(t *testing.T) {
	e := newEnv(t, 2, options(kb16, false))
	_, src := e.mustCreate("src")
	_, dst := e.mustCreate("dst")
	e.mustWrite(src, 0, make([]byte, 4*kb16))
	e.s.Notify(xlator.EventChildDown, e.g.Xlator("c1"))
	if n, err := e.copyRange(src, 0, dst, 0, 4*kb16); n != 0 || err != syscall.ENOTCONN {
		t.Fatalf("copy with a child down: %d, %v; want 0, ENOTCONN", n, err)
	}
}

func equal(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, want %d, first difference at %d", what, len(got), len(want), firstDiff(got, want))
	}
}
