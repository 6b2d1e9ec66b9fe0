package checksum_test

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wantEntry is the documented table entry of block b of data.
func wantEntry(data []byte, b, bs int) uint32 {
	blk := make([]byte, bs)
	copy(blk, data[min(b*bs, len(data)):])
	e := crc32.Checksum(blk, castagnoli) ^ crc32.Checksum(make([]byte, bs), castagnoli)
	if e == 0xffffffff {
		e--
	}
	return e
}

// TestBigFile writes a file whose sums no xattr could hold (8 MiB at
// 4 KiB a sum: twice the 1022 sums that fit the 4 KiB ext4 gives all of an
// inode's xattrs) and reads it back; its table has the documented layout;
// a byte changed behind the stack far into the file makes reads of its
// block fail with EIO, and the other blocks still read.
func TestBigFile(t *testing.T) {
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			const bs = 4096
			e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
			in, fd := e.create("big")
			defer in.Unref()
			defer fd.Unref()
			data := pattern(8<<20+123, 1)
			for off := 0; off < len(data); off += 1 << 20 {
				e.mustWrite(fd, int64(off), data[off:min(off+1<<20, len(data))])
			}
			got, err := e.readAll(fd)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "read back", got, data)

			tab := e.table(in)
			nb := (len(data) + bs - 1) / bs
			if len(tab) != 8+4*nb || string(tab[:4]) != "XCK2" || binary.LittleEndian.Uint32(tab[4:]) != bs {
				t.Fatalf("table: %d bytes, header %q %d; want %d bytes, XCK2 %d",
					len(tab), tab[:4], binary.LittleEndian.Uint32(tab[4:]), 8+4*nb, bs)
			}
			for b := range nb {
				if got, want := binary.LittleEndian.Uint32(tab[8+4*b:]), wantEntry(data, b, bs); got != want {
					t.Fatalf("entry %d = %#x, want %#x", b, got, want)
				}
			}

			far := int64(len(data) - 5000)
			e.poke(fd, far)
			if _, err := e.read(fd, far-10, 20); errnoOf(err) != syscall.EIO {
				t.Fatalf("read of the changed block: %v, want EIO", err)
			}
			e.mustRead(fd, far/bs*bs-bs, bs)
			want := uint64(1)
			if bottom == "posix" { // and in the brick file itself, as a failing disk would
				f, err := os.OpenFile(filepath.Join(e.dir, "big"), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt([]byte{^data[5<<20+7]}, 5<<20+7); err != nil {
					t.Fatal(err)
				}
				f.Close()
				if _, err := e.read(fd, 5<<20, bs); errnoOf(err) != syscall.EIO {
					t.Fatalf("read of the block changed in the brick: %v, want EIO", err)
				}
				want++
			}
			if n := e.counter("mismatches"); n != want {
				t.Errorf("mismatches = %d, want %d", n, want)
			}
			e.checkPools()
		})
	}
}

// TestWriteReportsOnlyProtectedBytes: when the table cannot take the sums
// of part of a write (the spy cuts table writes short with ENOSPC), the
// write fails with ENOSPC and reports only the bytes at the start of its
// data whose blocks' sums were stored, never its full length; those read
// back, and the block after them is not read as good.
func TestWriteReportsOnlyProtectedBytes(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		for _, tc := range []struct {
			name    string
			entries int64 // entries the table takes
			off     int64
			n       int
			want    int
		}{
			{"sums of the far range not stored", 20, 16 * bs, 16 * bs, 4 * bs},
			{"no sum stored", 16, 16 * bs, 16 * bs, 0},
			{"unaligned start", 17, 16*bs + 100, 2 * bs, bs - 100},
			{"over the end of the file", 18, 15*bs + 100, 3 * bs, 3*bs - 100},
		} {
			t.Run(bottom+"/"+tc.name, func(t *testing.T) {
				e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
				in, fd := e.create("f")
				defer in.Unref()
				defer fd.Unref()
				e.mustWrite(fd, 0, pattern(16*bs, 1))
				e.spy.set(func(s *spy) { s.writeLimit = 8 + 4*tc.entries })
				data := pattern(tc.n, 2)
				n, err := e.write(fd, tc.off, data)
				if n != tc.want || errnoOf(err) != syscall.ENOSPC {
					t.Fatalf("write of %d bytes at %d: %d, %v; want %d, ENOSPC", tc.n, tc.off, n, err, tc.want)
				}
				if n > 0 {
					mustEqual(t, "the bytes reported", e.mustRead(fd, tc.off, n), data[:n])
				}
				next := (tc.off + int64(n)) / bs * bs
				if _, err := e.read(fd, next, bs); errnoOf(err) != syscall.EIO {
					t.Errorf("read of block %d, written without its sum: %v, want EIO", next/bs, err)
				}
				if e.counter("table-errors") == 0 {
					t.Error("table-errors not counted")
				}
				e.checkPools()
			})
		}
	}
}

// TestRefusedWritesWriteNothing: a write (or zerofill) the translator
// cannot protect from the start is refused before it reaches the file:
// when the table cannot be made or read, and when a block it covers in
// part fails its check.
func TestRefusedWritesWriteNothing(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		for _, tc := range []struct {
			name string
			// prepare breaks something; the file holds 3 blocks of
			// data unless fresh.
			fresh   bool
			prepare func(e *env, in *xlator.Inode, fd *xlator.FD)
			fop     func(e *env, fd *xlator.FD) error
			want    syscall.Errno
		}{
			{"table cannot be made", true,
				func(e *env, _ *xlator.Inode, _ *xlator.FD) { e.spy.set(func(s *spy) { s.createErr = syscall.EACCES }) },
				writeAt(0, 100), syscall.EIO},
			{"table cannot be made: disk full", true,
				func(e *env, _ *xlator.Inode, _ *xlator.FD) { e.spy.set(func(s *spy) { s.createErr = syscall.ENOSPC }) },
				writeAt(0, 100), syscall.ENOSPC},
			{"table cannot be read", false,
				func(e *env, in *xlator.Inode, _ *xlator.FD) {
					e.x.Forget(in) // drop what the translator caches: it must read the table again
					e.spy.set(func(s *spy) { s.readErr = syscall.EIO })
				},
				writeAt(bs, bs), syscall.EIO},
			{"block covered in part fails its check", false,
				func(e *env, _ *xlator.Inode, fd *xlator.FD) { e.poke(fd, bs+3000) },
				writeAt(bs+100, 10), syscall.EIO},
			{"zerofill of a block that fails its check", false,
				func(e *env, _ *xlator.Inode, fd *xlator.FD) { e.poke(fd, bs+3000) },
				func(e *env, fd *xlator.FD) error {
					c := e.call(xlator.FopZerofill)
					defer c.Done()
					return e.top.Zerofill(c, fd, bs+100, 10)
				}, syscall.EIO},
		} {
			t.Run(bottom+"/"+tc.name, func(t *testing.T) {
				e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
				in, fd := e.create("f")
				defer in.Unref()
				defer fd.Unref()
				if !tc.fresh {
					e.mustWrite(fd, 0, pattern(3*bs, 1))
				}
				tc.prepare(e, in, fd)
				before := e.bottomData(fd)
				if err := tc.fop(e, fd); errnoOf(err) != tc.want {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				mustEqual(t, "the file after the refused fop", e.bottomData(fd), before)
				e.checkPools()
			})
		}
	}
}

// writeAt returns a fop writing n bytes at off that fails unless all are
// reported written.
func writeAt(off int64, n int) func(e *env, fd *xlator.FD) error {
	return func(e *env, fd *xlator.FD) error {
		w, err := e.write(fd, off, pattern(n, 9))
		if err == nil && w != n {
			e.t.Fatalf("short write without an error: %d of %d", w, n)
		}
		if err != nil && w != 0 {
			e.t.Errorf("refused write reports %d bytes", w)
		}
		return err
	}
}

// bottomData reads the whole file fd is open on from the bottom.
func (e *env) bottomData(fd *xlator.FD) []byte {
	e.t.Helper()
	c := e.call(xlator.FopReadv)
	defer c.Done()
	ref, err := e.bottom.Readv(c, fd, 64<<20, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer ref.Unref()
	b := make([]byte, ref.Size())
	ref.CopyTo(b)
	return b
}

// TestUnreadableTable: a read whose sums cannot be read fails with EIO
// (and no data), rather than returning data unchecked.
func TestUnreadableTable(t *testing.T) {
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			e := start(t, bottom, nil, "")
			in, fd := e.create("f")
			defer in.Unref()
			defer fd.Unref()
			e.mustWrite(fd, 0, pattern(10000, 1))
			e.x.Forget(in)
			e.spy.set(func(s *spy) { s.readErr = syscall.EIO })
			if _, err := e.read(fd, 0, 100); errnoOf(err) != syscall.EIO {
				t.Fatalf("read with the table unreadable: %v, want EIO", err)
			}
			e.spy.set(func(s *spy) { s.readErr = 0 })
			e.mustRead(fd, 0, 100)
		})
	}
}

// forge returns a block of bs bytes whose CRC32C is crc: its first bs-4
// bytes are a pattern, its last 4 solved for by running the CRC register
// back from crc (CRC is linear, so 4 bytes reach any value).
func forge(t *testing.T, bs int, crc uint32) []byte {
	b := pattern(bs, 7)
	var rev [256]byte // rev[i]: the table entry whose top byte is i
	for i, v := range castagnoli {
		rev[v>>24] = byte(i)
	}
	reg := ^crc
	for range 4 {
		j := rev[reg>>24]
		reg = (reg^castagnoli[j])<<8 | uint32(j)
	}
	binary.LittleEndian.PutUint32(b[bs-4:], reg^^crc32.Checksum(b[:bs-4], castagnoli))
	if got := crc32.Checksum(b, castagnoli); got != crc {
		t.Fatalf("forged block has CRC %#x, want %#x", got, crc)
	}
	return b
}

// TestMarkerCollision: the block whose entry would be the unknown marker
// (one CRC in 2^32) is stored next to it, and still checked.
func TestMarkerCollision(t *testing.T) {
	const bs = 4096
	e := start(t, "mem", map[string]string{"block-size": "4KiB"}, "")
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	blk := forge(t, bs, 0xffffffff^crc32.Checksum(make([]byte, bs), castagnoli))
	e.mustWrite(fd, 0, blk)
	if got := binary.LittleEndian.Uint32(e.table(in)[8:]); got != 0xfffffffe {
		t.Fatalf("entry %#x, want 0xfffffffe", got)
	}
	mustEqual(t, "read back", e.mustRead(fd, 0, bs), blk)
	if n := e.counter("verified-blocks"); n != 1 {
		t.Errorf("verified-blocks = %d, want 1", n)
	}
	e.poke(fd, 100)
	if _, err := e.read(fd, 0, bs); errnoOf(err) != syscall.EIO {
		t.Fatalf("read of the changed block: %v, want EIO", err)
	}
}

// TestTableIO: a write stores the entries of the blocks it covers with one
// write to the table, at their place; fsync syncs the data, then the
// table.
func TestTableIO(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
			in, fd := e.create("f")
			defer in.Unref()
			defer fd.Unref()
			e.mustWrite(fd, 0, pattern(16*bs, 1))
			e.spy.take()
			for _, tc := range []struct {
				off  int64
				n    int
				want string
			}{
				{0, 16 * bs, "table write 8+64"},
				{2*bs + 5, 2 * bs, "table write 16+12"},
				{1000 * bs, 10, "table write 4008+4"},
			} {
				e.mustWrite(fd, tc.off, pattern(tc.n, 3))
				if log := e.spy.take(); !slices.Equal(log, []string{tc.want}) {
					t.Errorf("write of %d at %d: table fops %q, want %q", tc.n, tc.off, log, tc.want)
				}
			}
			c := e.call(xlator.FopFsync)
			err := e.top.Fsync(c, fd, false)
			c.Done()
			if log := e.spy.take(); err != nil || !slices.Equal(log, []string{"fsync data", "fsync table"}) {
				t.Errorf("fsync: %v, fops %q", err, log)
			}
		})
	}
}

// TestPreexistingFile: a file with no table (written in the child, behind
// the translator) reads unchecked; its first write through the translator
// makes its table, with the blocks it held unknown and read unchecked,
// and the block written checked.
func TestPreexistingFile(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
			c := e.call(xlator.FopCreate)
			tab := e.g.Inodes()
			fresh := tab.New()
			bfd := e.g.NewFD(fresh, syscall.O_RDWR, 1, false)
			ia, err := e.bottom.Create(c, &xlator.Loc{Parent: e.root(), Name: "old", Inode: fresh}, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0, bfd)
			if err != nil {
				t.Fatal(err)
			}
			in := tab.Link(fresh, e.root(), "old", &ia)
			fresh.Unref()
			defer in.Unref()
			data := pattern(5*bs-50, 4)
			ref := e.g.Env().Iobufs.FromBytes(data)
			if _, err := e.bottom.Writev(c, bfd, ref, 0); err != nil {
				t.Fatal(err)
			}
			ref.Unref()
			bfd.Unref()
			c.Done()

			fd := e.mustOpen(in, syscall.O_RDWR)
			defer fd.Unref()
			e.poke(fd, 10) // unchecked: no table
			data[10] ^= 0x5a
			got, err := e.readAll(fd)
			if err != nil || e.table(in) != nil {
				t.Fatalf("read of a file without a table: %v; table %v", err, e.table(in))
			}
			mustEqual(t, "read back", got, data)

			e.mustWrite(fd, 3*bs+10, []byte("hello"))
			copy(data[3*bs+10:], "hello")
			tb := e.table(in)
			for b := range 5 {
				got := binary.LittleEndian.Uint32(tb[8+4*b:])
				if (b == 3) != (got != 0xffffffff) {
					t.Errorf("entry %d = %#x: only block 3 should be known", b, got)
				}
			}
			if n := e.counter("unknown-blocks"); n != 5 {
				t.Errorf("unknown-blocks = %d, want 5", n)
			}
			e.poke(fd, 20) // an unknown block: still unchecked
			data[20] ^= 0x5a
			if got, err = e.readAll(fd); err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "read back", got, data)
			e.poke(fd, 3*bs+100)
			if _, err := e.read(fd, 3*bs, 10); errnoOf(err) != syscall.EIO {
				t.Fatalf("read of the block written through the translator, then changed: %v, want EIO", err)
			}
		})
	}
}

// TestBlockSizePerTable: a table keeps the block size it was made with
// when the option changes; new tables take the new one.
func TestBlockSizePerTable(t *testing.T) {
	const bs = 4096
	dir := t.TempDir()
	e := start(t, "posix", map[string]string{"block-size": "4KiB"}, dir)
	in, fd := e.create("f")
	data := pattern(8*bs, 5)
	e.mustWrite(fd, 0, data)
	fd.Unref()
	in.Unref()
	e.g.Stop()

	e = start(t, "posix", map[string]string{"block-size": "8KiB"}, dir)
	in, err := e.lookup("f")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Unref()
	fd = e.mustOpen(in, syscall.O_RDWR)
	defer fd.Unref()
	got, err := e.readAll(fd)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "read back after the option changed", got, data)
	e.poke(fd, 3*bs+1)
	e.mustRead(fd, 2*bs, bs) // the other half of an 8 KiB block: 4 KiB sums
	if _, err := e.read(fd, 3*bs, 10); errnoOf(err) != syscall.EIO {
		t.Fatalf("read of the changed 4 KiB block: %v, want EIO", err)
	}
	in2, fd2 := e.create("g")
	defer in2.Unref()
	defer fd2.Unref()
	e.mustWrite(fd2, 0, pattern(100, 1))
	if tab := e.table(in2); binary.LittleEndian.Uint32(tab[4:]) != 8192 {
		t.Errorf("new table's block size %d, want 8192", binary.LittleEndian.Uint32(tab[4:]))
	}
}

// TestPagesBounded: reading the sums of a file caches at most 256 pages
// of its table (sparse writes 1024 blocks apart touch one page each).
func TestPagesBounded(t *testing.T) {
	e := start(t, "posix", map[string]string{"block-size": "512B"}, "")
	in, fd := e.create("sparse")
	defer in.Unref()
	defer fd.Unref()
	const pages = 300
	for p := range int64(pages) {
		e.mustWrite(fd, p*1024*512+100, []byte{byte(p)})
	}
	e.x.Forget(in)
	for p := range int64(pages) {
		if b := e.mustRead(fd, p*1024*512+100, 1); b[0] != byte(p) {
			t.Fatalf("page %d: read %d", p, b[0])
		}
	}
	for _, st := range e.g.Env().Pools.ByOwner("l0") {
		if st.Name == "l0:table-page" && (st.Active > 256 || st.Active == 0) {
			t.Errorf("%d table pages cached, want 1..256", st.Active)
		}
	}
	e.checkPools()
}

// TestConcurrentWriters: writers on several fds (one write-only) rewrite
// their own regions of one file, whose edges share blocks, while readers
// read it whole: no read ever fails, and the file ends as the writers
// left it.
func TestConcurrentWriters(t *testing.T) {
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			const region, writers = 10000, 4
			e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
			in, fd := e.create("c")
			defer in.Unref()
			defer fd.Unref()
			model := make([]byte, region*writers)
			e.mustWrite(fd, 0, model)
			var wg, readers sync.WaitGroup
			var stop atomic.Bool
			for range 2 {
				readers.Go(func() {
					for !stop.Load() {
						if _, err := e.readAll(fd); err != nil {
							t.Errorf("read while writing: %v", err)
							return
						}
					}
				})
			}
			for w := range writers {
				flags := uint32(syscall.O_RDWR)
				if w == 0 {
					flags = syscall.O_WRONLY
				}
				wfd := e.mustOpen(in, flags)
				defer wfd.Unref()
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					for i := range 60 {
						lo := rng.IntN(region)
						data := pattern(1+rng.IntN(region-lo), byte(w*64+i))
						off := w*region + lo
						if n, err := e.write(wfd, int64(off), data); err != nil || n != len(data) {
							t.Errorf("writer %d: %d, %v", w, n, err)
							return
						}
						copy(model[off:], data) // each writer's own region
					}
				})
			}
			wg.Wait()
			stop.Store(true)
			readers.Wait()
			got, err := e.readAll(fd)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "after the writers", got, model)
			if n := e.counter("mismatches"); n != 0 {
				t.Errorf("mismatches = %d", n)
			}
			e.checkPools()
		})
	}
}
