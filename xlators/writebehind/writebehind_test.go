package writebehind

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/xlator"
)

const kb4 = 4096

func TestAdjacentWritesGoDownAsOneWritev(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	defer fd.Unref()
	want := pattern(4*kb4, 1)
	for i := range 4 {
		e.write(fd, int64(i*kb4), want[i*kb4:(i+1)*kb4])
	}
	e.expectOps() // all held
	if s := e.wb.Stats(); s.HeldBytes != 4*kb4 || s.HeldWrites != 4 || s.DirtyFiles != 1 || s.Behind != 4 {
		t.Fatalf("held %+v", s)
	}
	if err := e.fsync(fd); err != nil {
		t.Fatal(err)
	}
	e.expectOps("WRITE 0+16384/4", "FSYNC")
	s := e.wb.Stats()
	if s.HeldBytes != 0 || s.HeldWrites != 0 || s.DirtyFiles != 0 || s.ChildWrites != 1 || s.Aggregated != 4 || s.Flushes != 1 {
		t.Fatalf("after fsync %+v", s)
	}
	e.expect(fd, 0, 4*kb4, want)
}

func TestWindowFullWritesHeldWritesFirst(t *testing.T) {
	e := newTenv(t, map[string]string{"window-size": "16KiB"})
	_, fd := e.create("f")
	defer fd.Unref()
	for i := range 5 {
		e.write(fd, int64(i*kb4), pattern(kb4, byte(i)))
	}
	e.expectOps("WRITE 0+16384/4")
	if s := e.wb.Stats(); s.HeldBytes != kb4 {
		t.Fatalf("held %d bytes after the window flushed, want %d", s.HeldBytes, kb4)
	}
	// A write of window-size or more goes through, after what is held.
	e.write(fd, 5*kb4, pattern(4*kb4, 9))
	e.expectOps("WRITE 16384+4096/1", "WRITE 20480+16384/1")
	if s := e.wb.Stats(); s.Bypassed != 1 || s.HeldBytes != 0 {
		t.Fatalf("after a large write %+v", s)
	}
}

func TestWriteOrdering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		strict string
		offs   []int64
		want   []string
	}{
		{"out of order merges", "false", []int64{8192, 0, 4096}, []string{"WRITE 0+12288/3"}},
		{"strict keeps arrival order", "true", []int64{8192, 0, 4096}, []string{"WRITE 8192+4096/1", "WRITE 0+8192/2"}},
		{"gap splits runs", "false", []int64{0, 8192}, []string{"WRITE 0+4096/1", "WRITE 8192+4096/1"}},
		// Overlapping writes go down in the order they came, sorted or not.
		{"overlap keeps arrival order", "false", []int64{4096, 0, 4096}, []string{"WRITE 4096+4096/1", "WRITE 0+8192/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTenv(t, map[string]string{"strict-write-ordering": tc.strict})
			_, fd := e.create("f")
			defer fd.Unref()
			model := make([]byte, 3*kb4)
			for i, off := range tc.offs {
				p := pattern(kb4, byte(10*i+1))
				e.write(fd, off, p)
				copy(model[off:], p)
			}
			if err := e.fsync(fd); err != nil {
				t.Fatal(err)
			}
			e.expectOps(append(tc.want, "FSYNC")...)
			end := int64(0)
			for _, off := range tc.offs {
				end = max(end, off+kb4)
			}
			e.expect(fd, 0, 3*kb4, model[:end])
		})
	}
}

func TestReadSeesHeldWrites(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	defer fd.Unref()
	p := pattern(2*kb4, 3)
	e.write(fd, 0, p)
	e.expect(fd, kb4, kb4, p[kb4:]) // overlaps: flushed first
	e.expectOps("WRITE 0+8192/1", "READ 4096+4096")

	// A held write past the end moves the end of file a read sees.
	e.write(fd, 1<<20, p)
	e.expect(fd, 2*kb4, kb4, make([]byte, kb4))
	e.expectOps("WRITE 1048576+8192/1", "READ 8192+4096")

	// A read past every held write does not flush.
	e.write(fd, 0, p)
	e.expect(fd, 4*kb4, kb4, make([]byte, kb4))
	e.expectOps("READ 16384+4096")
}

// TestFopsWriteHeldWritesFirst checks that each fop that sees or changes a
// file's size, data or times reaches the child after the held writes.
func TestFopsWriteHeldWritesFirst(t *testing.T) {
	for _, tc := range []struct {
		op  string
		run func(e *tenv, in *xlator.Inode, fd *xlator.FD) error
	}{
		{"FSTAT", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			ia := e.fstat(fd)
			if ia.Size != 2*kb4 {
				t.Errorf("fstat size %d, want %d", ia.Size, 2*kb4)
			}
			return nil
		}},
		{"STAT", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopStat)
			defer c.Done()
			ia, err := e.g.Top().Stat(c, &xlator.Loc{Inode: in})
			if ia.Size != 2*kb4 {
				t.Errorf("stat size %d, want %d", ia.Size, 2*kb4)
			}
			return err
		}},
		{"LOOKUP", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopLookup)
			defer c.Done()
			fresh := e.g.Inodes().New()
			defer fresh.Unref()
			ia, err := e.g.Top().Lookup(c, &xlator.Loc{Parent: e.g.Inodes().Root(), Name: "f", Inode: fresh})
			if ia.Size != 2*kb4 {
				t.Errorf("lookup size %d, want %d", ia.Size, 2*kb4)
			}
			return err
		}},
		{"SETATTR", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopSetattr)
			defer c.Done()
			_, err := e.g.Top().Setattr(c, &xlator.Loc{Inode: in}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: kb4})
			return err
		}},
		{"FSETATTR", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopFsetattr)
			defer c.Done()
			_, err := e.g.Top().Fsetattr(c, fd, &xlator.SetattrIn{Valid: xlator.SetMtime})
			return err
		}},
		{"FALLOCATE", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopFallocate)
			defer c.Done()
			return e.g.Top().Fallocate(c, fd, 0, 0, 4*kb4)
		}},
		{"DISCARD", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopDiscard)
			defer c.Done()
			return e.g.Top().Discard(c, fd, 0, kb4)
		}},
		{"ZEROFILL", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopZerofill)
			defer c.Done()
			return e.g.Top().Zerofill(c, fd, 0, kb4)
		}},
		{"SEEK", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopLseek)
			defer c.Done()
			if _, err := e.g.Top().Lseek(c, fd, 0, xlator.SeekHole); err != syscall.ENOSYS {
				return err // mem answers ENOSYS: what matters is the order
			}
			return nil
		}},
		{"LINK", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopLink)
			defer c.Done()
			ia, err := e.g.Top().Link(c, &xlator.Loc{Inode: in}, &xlator.Loc{Parent: e.g.Inodes().Root(), Name: "g"})
			if err == nil && ia.Size != 2*kb4 {
				t.Errorf("link size %d, want %d", ia.Size, 2*kb4)
			}
			return err
		}},
		{"COPY 0+4096 to 16384", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			c := e.call(xlator.FopCopyFileRange)
			defer c.Done()
			_, err := e.g.Top().CopyFileRange(c, fd, 0, fd, 4*kb4, kb4, 0)
			return err
		}},
		{"OPEN", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			e.open(in, syscall.O_RDWR|syscall.O_TRUNC).Unref()
			return nil
		}},
		{"FLUSH", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error { return e.flush(fd) }},
		{"FSYNC", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error { return e.fsync(fd) }},
		{"READDIR", func(e *tenv, in *xlator.Inode, fd *xlator.FD) error {
			dfd := e.g.NewFD(e.g.Inodes().Root().Ref(), syscall.O_RDONLY, 1, true)
			defer dfd.Unref()
			c := e.call(xlator.FopReaddir)
			defer c.Done()
			_, err := e.g.Top().Readdir(c, dfd, 0, 100, true)
			return err
		}},
	} {
		t.Run(tc.op, func(t *testing.T) {
			e := newTenv(t, nil)
			in, fd := e.create("f")
			defer fd.Unref()
			e.write(fd, 0, pattern(kb4, 1))
			e.write(fd, kb4, pattern(kb4, 2))
			if err := tc.run(e, in, fd); err != nil {
				t.Fatal(err)
			}
			e.expectOps("WRITE 0+8192/2", tc.op)
		})
	}
}

func TestFopsWithoutHeldWritesPassStraight(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	defer fd.Unref()
	e.fstat(fd)
	if err := e.fsync(fd); err != nil {
		t.Fatal(err)
	}
	e.expectOps("FSTAT", "FSYNC")
	if s := e.wb.Stats(); s.Flushes != 0 {
		t.Fatalf("flushes %d with nothing held", s.Flushes)
	}
}

func TestTruncateCutsHeldData(t *testing.T) {
	e := newTenv(t, nil)
	in, fd := e.create("f")
	defer fd.Unref()
	e.write(fd, 0, pattern(2*kb4, 5))
	c := e.call(xlator.FopSetattr)
	if _, err := e.g.Top().Setattr(c, &xlator.Loc{Inode: in}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 100}); err != nil {
		t.Fatal(err)
	}
	c.Done()
	if got := e.read(fd, 0, 2*kb4); !bytes.Equal(got, pattern(2*kb4, 5)[:100]) {
		t.Fatalf("after truncate to 100 read %d bytes", len(got))
	}
}

// TestErrorReportedLater checks that a held write's error reaches the
// caller on the fd's next write, fsync or flush, once, and is never turned
// into success.
func TestErrorReportedLater(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report func(e *tenv, fd *xlator.FD) error
	}{
		{"fsync", func(e *tenv, fd *xlator.FD) error { return e.fsync(fd) }},
		{"flush", func(e *tenv, fd *xlator.FD) error { return e.flush(fd) }},
		{"next write", func(e *tenv, fd *xlator.FD) error {
			// The read flushes (and fails); the next write reports it,
			// not done: count 0.
			e.read(fd, 0, kb4)
			n, err := e.writeErr(fd, 8*kb4, pattern(kb4, 7))
			if err != nil && n != 0 {
				t.Errorf("failed write returned count %d", n)
			}
			return err
		}},
		{"write filling the window", func(e *tenv, fd *xlator.FD) error {
			// window-size is 8KiB: this write flushes the first, which
			// fails; the write itself is not done.
			n, err := e.writeErr(fd, kb4, pattern(2*kb4-1, 7))
			if err != nil && n != 0 {
				t.Errorf("failed write returned count %d", n)
			}
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTenv(t, map[string]string{"window-size": "8KiB"})
			_, fd := e.create("f")
			defer fd.Unref()
			e.write(fd, 0, pattern(kb4, 1))
			e.rec.fail(syscall.ENOSPC)
			if err := tc.report(e, fd); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("got %v, want ENOSPC", err)
			}
			e.rec.fail(0)
			// Reported once: the fd works again.
			if err := e.fsync(fd); err != nil {
				t.Fatalf("fsync after the error was reported: %v", err)
			}
			s := e.wb.Stats()
			if s.LateErrors != 1 || s.FailedWrites != 1 || s.Unreported != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestErrorGoesToTheWritersFD: a flush another fd causes records the error
// on the fd whose write failed; the other fd's fop succeeds.
func TestErrorGoesToTheWritersFD(t *testing.T) {
	e := newTenv(t, nil)
	in, a := e.create("f")
	defer a.Unref()
	b := e.open(in, syscall.O_RDWR)
	defer b.Unref()
	e.write(a, 0, pattern(kb4, 1))
	e.rec.fail(syscall.EIO)
	e.read(b, 0, kb4) // flushes a's write, which fails
	if err := e.fsync(b); err != nil {
		t.Fatalf("fsync of the reader: %v", err)
	}
	e.rec.fail(0)
	if err := e.fsync(a); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync of the writer: %v, want EIO", err)
	}
}

// TestLaterRunsStillWritten: a failed writev does not drop the held writes
// after it.
func TestLaterRunsStillWritten(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	defer fd.Unref()
	e.write(fd, 0, pattern(kb4, 1))
	e.write(fd, 8*kb4, pattern(kb4, 2))
	e.rec.failRange(syscall.EIO, 0, kb4) // the first run only
	if err := e.fsync(fd); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync: %v, want EIO", err)
	}
	e.expectOps("WRITE 0+4096/1", "WRITE 32768+4096/1", "FSYNC")
}

func TestReleaseWritesHeldWrites(t *testing.T) {
	e := newTenv(t, nil)
	in, fd := e.create("f")
	e.write(fd, 0, pattern(kb4, 1))
	fd.Unref()
	e.expectOps("WRITE 0+4096/1")
	rd := e.open(in, syscall.O_RDONLY)
	defer rd.Unref()
	e.expect(rd, 0, kb4, pattern(kb4, 1))
}

func TestReleaseErrorIsCountedUnreported(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	e.write(fd, 0, pattern(kb4, 1))
	e.rec.fail(syscall.EIO)
	fd.Unref()
	if s := e.wb.Stats(); s.Unreported != 1 || s.FailedWrites != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFlushBehind(t *testing.T) {
	e := newTenv(t, map[string]string{"flush-behind": "true"})
	_, fd := e.create("f")
	e.write(fd, 0, pattern(kb4, 1))
	if err := e.flush(fd); err != nil {
		t.Fatal(err)
	}
	e.expectOps("FLUSH")
	fd.Unref()
	e.expectOps("WRITE 0+4096/1")
}

func TestBypass(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   map[string]string
		flags uint32
		held  bool
	}{
		{"plain", nil, syscall.O_RDWR, true},
		{"O_DIRECT", nil, syscall.O_RDWR | syscall.O_DIRECT, false},
		{"O_DIRECT not strict", map[string]string{"strict-o-direct": "false"}, syscall.O_RDWR | syscall.O_DIRECT, true},
		{"O_SYNC", nil, syscall.O_RDWR | syscall.O_SYNC, false},
		{"O_DSYNC", map[string]string{"strict-o-direct": "false"}, syscall.O_RDWR | syscall.O_DSYNC, false},
		{"O_APPEND", nil, syscall.O_RDWR | syscall.O_APPEND, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTenv(t, tc.set)
			in, plain := e.create("f")
			defer plain.Unref()
			e.write(plain, 0, pattern(kb4, 1)) // held through another fd
			fd := e.open(in, tc.flags)
			defer fd.Unref()
			e.expectOps("OPEN")
			e.write(fd, kb4, pattern(kb4, 2))
			if tc.held {
				e.expectOps()
			} else {
				// The file's held writes go first, then this one.
				e.expectOps("WRITE 0+4096/1", "WRITE 4096+4096/1")
			}
		})
	}
}

func TestTotalWindowBoundsAllFiles(t *testing.T) {
	e := newTenv(t, map[string]string{"window-size": "8KiB", "total-window-size": "12KiB"})
	_, a := e.create("a")
	defer a.Unref()
	_, b := e.create("b")
	defer b.Unref()
	e.write(a, 0, pattern(kb4, 1))
	e.write(a, kb4, pattern(kb4, 1))
	e.write(b, 0, pattern(kb4, 2))
	e.expectOps()
	e.write(b, kb4, pattern(kb4, 3)) // 16KiB would be held: b goes through
	e.expectOps("WRITE 0+4096/1", "WRITE 4096+4096/1")
	if s := e.wb.Stats(); s.HeldBytes != 2*kb4 {
		t.Fatalf("held %d, want %d", s.HeldBytes, 2*kb4)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := Schema.Decode(map[string]string{"window-size": "1KiB"}); err == nil {
		t.Error("window-size 1KiB accepted")
	}
	spec := newSpec(map[string]string{"window-size": "2MiB", "total-window-size": "1MiB"})
	if err := initErr(t, spec); err == nil {
		t.Error("total-window-size below window-size accepted")
	}
}

// TestHoldsAReferenceNotACopy: the caller's iobref is kept by reference
// (its data is not copied) and every reference is dropped once written.
func TestHoldsAReferenceNotACopy(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	defer fd.Unref()
	before := e.env.Iobufs.Stats().IobrefActive
	data := e.env.Iobufs.FromBytes(pattern(kb4, 4))
	c := e.call(xlator.FopWritev)
	if n, err := e.g.Top().Writev(c, fd, data, 0); err != nil || n != kb4 {
		t.Fatal(n, err)
	}
	c.Done()
	if data.Refs() != 2 {
		t.Fatalf("iobref refs %d after the write, want 2 (caller's and write-behind's)", data.Refs())
	}
	data.Unref()
	if err := e.fsync(fd); err != nil {
		t.Fatal(err)
	}
	e.expect(fd, 0, kb4, pattern(kb4, 4))
	if s := e.wb.Stats(); s.Copied != 0 {
		t.Fatalf("copied %d", s.Copied)
	}
	if after := e.env.Iobufs.Stats().IobrefActive; after != before {
		t.Fatalf("iobrefs active %d after, %d before", after, before)
	}
}

func TestFiniWritesHeldWrites(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	e.write(fd, 0, pattern(kb4, 1))
	e.g.Stop()
	e.expectOps("WRITE 0+4096/1")
	fd.Unref()
}

func TestDump(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	defer fd.Unref()
	e.write(fd, 0, pattern(kb4, 1))
	got := map[string]any{}
	for _, kv := range e.wb.Dump() {
		got[kv.Key] = kv.Value
	}
	if got["window-size"] != int64(DefaultWindowSize) || got["held-bytes"] != int64(kb4) || got["writes-behind"] != uint64(1) {
		t.Fatalf("dump %v", got)
	}
}

// lender counts the borrowed iobufs given back.
type lender struct{ returned atomic.Int64 }

func (l *lender) Return(uint64) { l.returned.Add(1) }

// TestBorrowedMemoryIsCopied: a held write does not keep a lender's
// memory: it is copied, and the lender has it back when the write returns.
func TestBorrowedMemoryIsCopied(t *testing.T) {
	e := newTenv(t, nil)
	_, fd := e.create("f")
	defer fd.Unref()
	var l lender
	mem := pattern(kb4, 6)
	buf := e.env.Iobufs.Borrow(mem, &l, 1)
	data := e.env.Iobufs.NewIobref()
	data.Add(buf)
	buf.Unref()
	c := e.call(xlator.FopWritev)
	if n, err := e.g.Top().Writev(c, fd, data, 0); err != nil || n != kb4 {
		t.Fatal(n, err)
	}
	c.Done()
	data.Unref()
	if l.returned.Load() != 1 {
		t.Fatalf("lent memory not returned after the write: %d", l.returned.Load())
	}
	copy(mem, make([]byte, kb4)) // the lender reuses its memory
	e.expect(fd, 0, kb4, pattern(kb4, 6))
	if s := e.wb.Stats(); s.Copied != 1 {
		t.Fatalf("copied %d", s.Copied)
	}
}

// TestCopyWritesHeldWritesOfBothFiles: a copy reaches the child after the
// held writes of its source and its destination, and copies what was
// acknowledged to the source over what was acknowledged to the
// destination; a flush error of the destination is the copy's, once.
func TestCopyWritesHeldWritesOfBothFiles(t *testing.T) {
	e := newTenv(t, nil)
	_, src := e.create("src")
	defer src.Unref()
	_, dst := e.create("dst")
	defer dst.Unref()
	e.write(src, 0, pattern(2*kb4, 1))
	e.write(dst, kb4, pattern(kb4, 2))
	c := e.call(xlator.FopCopyFileRange)
	n, err := e.g.Top().CopyFileRange(c, src, 100, dst, 0, 2*kb4, 0)
	c.Done()
	if err != nil || n != 2*kb4-100 {
		t.Fatalf("copy: %d, %v; want %d", n, err, 2*kb4-100)
	}
	e.expectOps("WRITE 0+8192/1", "WRITE 4096+4096/1", "COPY 100+8192 to 0")
	e.expect(dst, 0, 3*kb4, append(pattern(2*kb4, 1)[100:], pattern(kb4, 2)[kb4-100:]...))

	e.write(dst, 0, pattern(kb4, 3))
	e.rec.fail(syscall.EIO)
	c = e.call(xlator.FopCopyFileRange)
	n, err = e.g.Top().CopyFileRange(c, src, 0, dst, 0, kb4, 0)
	c.Done()
	e.rec.fail(0)
	if n != 0 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("copy over a held write that fails: %d, %v; want 0, EIO", n, err)
	}
	e.expectOps("READ 0+12288", "WRITE 0+4096/1") // the read by expect, the flush by the copy
	c = e.call(xlator.FopCopyFileRange)
	n, err = e.g.Top().CopyFileRange(c, src, 0, dst, 0, kb4, 0)
	c.Done()
	if err != nil || n != kb4 {
		t.Fatalf("the copy after the error was reported: %d, %v", n, err)
	}
}

// TestFlushWaitCancel: a fop waiting for a file's flush gives up with
// ECANCELED when an API caller's context ends, and waits on when a FUSE
// caller that lives on is interrupted (xlator.CallerDying).
func TestFlushWaitCancel(t *testing.T) {
	e := newTenv(t, nil)
	in, fd := e.create("f")
	defer fd.Unref()
	e.write(fd, 0, make([]byte, 4096))
	f := e.wb.fileOf(in)
	if f == nil || f.end.Load() == 0 {
		t.Fatal("the write was not held")
	}
	f.lock <- struct{}{} // a flush in progress
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	api := e.g.Calls().Begin(ctx, xlator.FopStat, xlator.Creds{}, 0)
	if err := e.wb.sync(api, in); err != syscall.ECANCELED {
		t.Errorf("an API caller whose context ended: %v, want ECANCELED", err)
	}
	api.Done()
	if e.wb.flushWaitsCancelled.Load() != 1 {
		t.Errorf("flush-waits-cancelled = %d, want 1", e.wb.flushWaitsCancelled.Load())
	}
	interrupted := make(chan struct{})
	close(interrupted)
	fuse := e.g.Calls().BeginCancel(interrupted, xlator.FopStat, xlator.Creds{Pid: uint32(os.Getpid())}, 0)
	defer fuse.Done()
	done := make(chan error, 1)
	go func() { done <- e.wb.sync(fuse, in) }()
	select {
	case err := <-done:
		t.Fatalf("an interrupted FUSE caller that lives on gave up: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	unlock(f)
	if err := <-done; err != nil {
		t.Errorf("after the flush: %v", err)
	}
}
