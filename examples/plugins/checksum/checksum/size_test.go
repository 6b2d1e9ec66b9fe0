package checksum_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// resized returns b at size n, zeroes added past its end.
func resized(b []byte, n int64) []byte {
	if int64(len(b)) >= n {
		return b[:n]
	}
	return append(b, make([]byte, n-int64(len(b)))...)
}

// TestTruncate: shrinking and growing truncates, through an fd and by
// path, keep the table in step: the file reads back as truncated (holes as
// zeroes) with no false mismatch, before and after the translator reads
// its table again; the table holds one entry per block; a byte changed in
// the last block afterwards is caught.
func TestTruncate(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		for _, how := range []string{"fsetattr", "setattr"} {
			for _, tc := range []struct {
				name  string
				sizes []int64
			}{
				{"shrink inside a block", []int64{2*bs + 100}},
				{"shrink to a block boundary", []int64{2 * bs}},
				{"shrink to zero", []int64{0}},
				{"grow from inside a block", []int64{10*bs + 5}},
				{"shrink then grow", []int64{2*bs + 100, 7 * bs}},
				{"grow then shrink", []int64{9*bs + 1, 3*bs + 7}},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", bottom, how, tc.name), func(t *testing.T) {
					e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
					in, fd := e.create("f")
					defer in.Unref()
					defer fd.Unref()
					model := pattern(5*bs+100, 1)
					e.mustWrite(fd, 0, model)
					for _, size := range tc.sizes {
						var err error
						if how == "fsetattr" {
							err = e.ftruncate(fd, size)
						} else {
							err = e.truncate(in, size)
						}
						if err != nil {
							t.Fatalf("truncate to %d: %v", size, err)
						}
						model = resized(model, size)
						got, err := e.readAll(fd)
						if err != nil {
							t.Fatalf("read after truncate to %d: %v", size, err)
						}
						mustEqual(t, fmt.Sprintf("after truncate to %d", size), got, model)
						if tab := e.table(in); int64(len(tab)) != 8+4*((size+bs-1)/bs) {
							t.Errorf("table of %d bytes after truncate to %d", len(tab), size)
						}
					}
					e.x.Forget(in)
					got, err := e.readAll(fd)
					if err != nil {
						t.Fatalf("read with the table read again: %v", err)
					}
					mustEqual(t, "with the table read again", got, model)
					if n := int64(len(model)); n > 0 {
						e.poke(fd, n-1)
						if _, err := e.read(fd, n-1, 1); errnoOf(err) != syscall.EIO {
							t.Fatalf("read of the changed last block: %v, want EIO", err)
						}
					}
					e.checkPools()
				})
			}
		}
	}
}

// TestTruncateByName: a truncate by parent and name of a file the inode
// table does not know yet (a fresh stack on the brick) keeps the table in
// step as one through its inode does.
func TestTruncateByName(t *testing.T) {
	const bs = 4096
	dir := t.TempDir()
	e := start(t, "posix", map[string]string{"block-size": "4KiB"}, dir)
	in, fd := e.create("f")
	model := pattern(5*bs, 1)
	e.mustWrite(fd, 0, model)
	fd.Unref()
	in.Unref()
	e.g.Stop()

	e = start(t, "posix", map[string]string{"block-size": "4KiB"}, dir)
	c := e.call(xlator.FopSetattr)
	_, err := e.top.Setattr(c, &xlator.Loc{Parent: e.root(), Name: "f"}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 2*bs + 100})
	c.Done()
	if err != nil {
		t.Fatal(err)
	}
	if in, err = e.lookup("f"); err != nil {
		t.Fatal(err)
	}
	defer in.Unref()
	fd = e.mustOpen(in, syscall.O_RDWR)
	defer fd.Unref()
	got, err := e.readAll(fd)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "after a truncate by name", got, model[:2*bs+100])
	e.poke(fd, 2*bs+50)
	if _, err := e.read(fd, 2*bs, 10); errnoOf(err) != syscall.EIO {
		t.Fatalf("read of the changed last block: %v, want EIO", err)
	}
}

// TestTruncateKeepsCorruption: a truncate into a block that no longer
// matches its sum does not bless it: the bytes that stay still fail reads.
// A truncate that drops the changed bytes with their block clears it.
func TestTruncateKeepsCorruption(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
			in, fd := e.create("f")
			defer in.Unref()
			defer fd.Unref()
			e.mustWrite(fd, 0, pattern(5*bs, 1))
			e.poke(fd, 2*bs+10)
			if err := e.ftruncate(fd, 2*bs+100); err != nil {
				t.Fatal(err)
			}
			if _, err := e.read(fd, 2*bs, 100); errnoOf(err) != syscall.EIO {
				t.Fatalf("read of the changed block after a truncate inside it: %v, want EIO", err)
			}
			if err := e.ftruncate(fd, 2*bs); err != nil {
				t.Fatal(err)
			}
			if _, err := e.readAll(fd); err != nil {
				t.Fatalf("read after the changed block was cut off: %v", err)
			}
		})
	}
}

// TestOTrunc: opening or creating an existing file with O_TRUNC empties its
// table, so entries of the old data never meet the new (a grow after it
// reads zeroes, not EIO).
func TestOTrunc(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		for _, how := range []string{"open", "create"} {
			t.Run(bottom+"/"+how, func(t *testing.T) {
				e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
				in, fd := e.create("f")
				defer in.Unref()
				e.mustWrite(fd, 0, pattern(4*bs, 1))
				fd.Unref()
				if how == "open" {
					fd = e.mustOpen(in, syscall.O_RDWR|syscall.O_TRUNC)
				} else {
					var err error
					var in2 *xlator.Inode
					if in2, fd, err = e.createFlags("f", syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC); err != nil {
						t.Fatal(err)
					}
					in2.Unref()
				}
				defer fd.Unref()
				if tab := e.table(in); len(tab) != 8 {
					t.Fatalf("table of %d bytes after O_TRUNC, want the header alone", len(tab))
				}
				e.mustWrite(fd, 0, []byte("new"))
				if err := e.ftruncate(fd, 3*bs); err != nil {
					t.Fatal(err)
				}
				got, err := e.readAll(fd)
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, "after O_TRUNC, a write and a grow", got, resized([]byte("new"), 3*bs))
			})
		}
	}
}

// TestFallocateModes: the modes that move data are refused.
func TestFallocateModes(t *testing.T) {
	e := start(t, "mem", nil, "")
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	c := e.call(xlator.FopFallocate)
	defer c.Done()
	for _, mode := range []uint32{0x08, 0x20} { // collapse range, insert range
		if err := e.top.Fallocate(c, fd, mode, 0, 4096); errnoOf(err) != syscall.EOPNOTSUPP {
			t.Errorf("mode %#x: %v, want EOPNOTSUPP", mode, err)
		}
	}
}

// TestModel runs random writes (through read-write, write-only and
// O_APPEND fds), truncates, zerofills, discards, punched and zeroed ranges
// and reloads of the table on one file, with 512-byte blocks, and checks
// after each that the file reads back as a model of it says, without a
// false mismatch; at the end, a changed byte anywhere is caught.
func TestModel(t *testing.T) {
	const bs = 512
	for _, bottom := range bottoms {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed=%d", bottom, seed), func(t *testing.T) {
				e := start(t, bottom, map[string]string{"block-size": "512B"}, "")
				in, fd := e.create("m")
				defer in.Unref()
				defer fd.Unref()
				wfd := e.mustOpen(in, syscall.O_WRONLY)
				defer wfd.Unref()
				afd := e.mustOpen(in, syscall.O_WRONLY|syscall.O_APPEND)
				defer afd.Unref()
				rng := rand.New(rand.NewPCG(seed, 7))
				var model []byte
				var hist []string
				fail := func(format string, args ...any) {
					t.Helper()
					t.Fatalf("%s\nafter: %s", fmt.Sprintf(format, args...), strings.Join(hist[max(len(hist)-8, 0):], "; "))
				}
				for i := range 300 {
					off, n := rng.Int64N(12*bs), 1+rng.Int64N(3*bs)
					c := e.call(xlator.FopWritev)
					var err error
					switch op := rng.IntN(11); op {
					case 0, 1, 2, 3:
						w := []*xlator.FD{fd, wfd}[op%2]
						data := pattern(int(n), byte(i))
						hist = append(hist, fmt.Sprintf("write %d+%d fd%d", off, n, op%2))
						if _, err = e.write(w, off, data); err == nil {
							model = resized(model, max(int64(len(model)), off+n))
							copy(model[off:], data)
						}
					case 4:
						data := pattern(int(n), byte(i))
						hist = append(hist, fmt.Sprintf("append %d", n))
						if _, err = e.write(afd, 0, data); err == nil {
							model = append(model, data...)
						}
					case 5:
						hist = append(hist, fmt.Sprintf("ftruncate %d", off))
						if err = e.ftruncate(fd, off); err == nil {
							model = resized(model, off)
						}
					case 6:
						hist = append(hist, fmt.Sprintf("truncate %d", off))
						if err = e.truncate(in, off); err == nil {
							model = resized(model, off)
						}
					case 7:
						hist = append(hist, fmt.Sprintf("zerofill %d+%d", off, n))
						if err = e.top.Zerofill(c, fd, off, n); err == nil {
							model = resized(model, max(int64(len(model)), off+n))
							clear(model[off : off+n])
						}
					case 8:
						mode := []uint32{xlator.FallocPunchHole | xlator.FallocKeepSize, xlator.FallocZeroRange | xlator.FallocKeepSize, 0}[rng.IntN(3)]
						hist = append(hist, fmt.Sprintf("discard %d+%d mode %#x", off, n, mode))
						if mode == 0 {
							err = e.top.Discard(c, fd, off, n)
						} else {
							err = e.top.Fallocate(c, fd, mode, off, n)
						}
						if err == nil && off < int64(len(model)) {
							clear(model[off:min(off+n, int64(len(model)))])
						}
					case 9:
						hist = append(hist, fmt.Sprintf("zero range %d+%d", off, n))
						if err = e.top.Fallocate(c, fd, xlator.FallocZeroRange, off, n); err == nil {
							model = resized(model, max(int64(len(model)), off+n))
							clear(model[off : off+n])
						}
					case 10:
						hist = append(hist, "reload")
						e.x.Forget(in)
					}
					c.Done()
					if err != nil {
						fail("op %d: %v", i, err)
					}
					got, err := e.readAll(fd)
					if err != nil {
						fail("read after op %d: %v", i, err)
					}
					if d := firstDiff(got, model); d >= 0 {
						fail("after op %d: %d bytes, want %d, first difference at %d", i, len(got), len(model), d)
					}
				}
				if len(model) > 0 {
					at := rng.Int64N(int64(len(model)))
					e.poke(fd, at)
					if _, err := e.read(fd, at/bs*bs, bs); errnoOf(err) != syscall.EIO {
						fail("read of a changed byte at %d: %v, want EIO", at, err)
					}
				}
				if n := e.counter("mismatches"); n > 1 {
					t.Errorf("mismatches = %d, want the one made", n)
				}
				e.checkPools()
			})
		}
	}
}
