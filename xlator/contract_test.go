package xlator_test

import (
	"errors"
	"math"
	"syscall"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// liar breaks the data fops' contract in the way its mode says, and
// records the ranges that reach it.
type liar struct {
	xlator.Base
	mode  string
	calls int
}

var liarMode string

var liarType = xlator.Type{Name: "liar", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &liar{mode: liarMode} }}

func (l *liar) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	l.calls++
	r, err := l.FirstChild().Readv(c, fd, size, off)
	switch l.mode {
	case "read-ref-and-error":
		return r, syscall.EIO
	case "read-nil-nil":
		if r != nil {
			r.Unref()
		}
		return nil, nil
	case "read-too-much":
		b := l.Iobufs().Get(size + 100)
		r.Unref()
		r = l.Iobufs().NewIobref()
		r.AddRange(b, 0, size+100)
		b.Unref()
		return r, nil
	}
	return r, err
}

func (l *liar) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	l.calls++
	n, err := l.FirstChild().Writev(c, fd, data, off)
	switch l.mode {
	case "write-full-and-error": // as the checksum example did when its xattr failed
		return n, syscall.ENOSPC
	case "write-short-no-error":
		return n / 2, nil
	case "write-negative":
		return -1, syscall.EIO
	}
	return n, err
}

func (l *liar) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	l.calls++
	return l.FirstChild().Fallocate(c, fd, mode, off, length)
}

func (l *liar) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	l.calls++
	return l.FirstChild().Discard(c, fd, off, length)
}

func (l *liar) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	l.calls++
	return l.FirstChild().Zerofill(c, fd, off, length)
}

func (l *liar) Tmpfile(c *xlator.Call, loc *xlator.Loc, flags, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	l.calls++
	return l.FirstChild().Tmpfile(c, loc, flags, mode, umask, fd)
}

func liarGraph(t *testing.T, mode string) (*xlator.Graph, *liar, *xlator.FD) {
	t.Helper()
	reg := xlatortest.Registry()
	reg.MustRegister(liarType)
	liarMode = mode
	g := xlatortest.Start(t, xlatortest.Chain("pass", "liar", "mem"), reg, nil)
	_, fd := xlatortest.Create(t, g, "f")
	t.Cleanup(fd.Unref)
	c := xlatortest.Begin(g, xlator.FopWritev)
	defer c.Done()
	data := g.Env().Iobufs.FromBytes(make([]byte, 8192))
	defer data.Unref()
	if mode == "" || mode[:4] == "read" {
		if _, err := g.Top().Writev(c, fd, data, 0); err != nil {
			t.Fatal(err)
		}
	}
	return g, xlator.Unwrap(g.Xlator("l1")).(*liar), fd
}

func breaches(g *xlator.Graph, volume string) any {
	for _, x := range g.Xlators() {
		if x.Name == volume {
			for _, kv := range x.Private {
				if kv.Key == "fop-contract-breaches" {
					return kv.Value
				}
			}
		}
	}
	return nil
}

// TestWriteContract: whatever a translator returns, the caller above it
// sees either the whole count and no error, or an error with a count below
// the data's size.
func TestWriteContract(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		n     int
		errno syscall.Errno
	}{
		{"write-full-and-error", 0, syscall.ENOSPC},
		{"write-short-no-error", 4096, syscall.EIO},
		{"write-negative", 0, syscall.EIO},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			g, _, fd := liarGraph(t, tc.mode)
			c := xlatortest.Begin(g, xlator.FopWritev)
			defer c.Done()
			data := g.Env().Iobufs.FromBytes(make([]byte, 8192))
			defer data.Unref()
			n, err := g.Top().Writev(c, fd, data, 0)
			if n != tc.n || !errors.Is(err, tc.errno) {
				t.Fatalf("writev through a translator that breaks the contract: %d, %v; want %d, %v", n, err, tc.n, tc.errno)
			}
			if b := breaches(g, "l1"); b != uint64(1) {
				t.Fatalf("fop-contract-breaches = %v, want 1", b)
			}
			if s := g.Xlators()[0].Stats; s.Count(xlator.FopWritev) != 1 || s.Fops[len(s.Fops)-1].Errors != 1 {
				t.Fatalf("the top's statistics: %+v", s)
			}
		})
	}
}

func TestReadContract(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		size  int
		errno syscall.Errno
	}{
		{"read-ref-and-error", 0, syscall.EIO},
		{"read-nil-nil", 0, syscall.EIO},
		{"read-too-much", 4096, 0},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			g, _, fd := liarGraph(t, tc.mode)
			active := g.Env().Iobufs.Stats().Active()
			c := xlatortest.Begin(g, xlator.FopReadv)
			defer c.Done()
			r, err := g.Top().Readv(c, fd, 4096, 0)
			if tc.errno != 0 {
				if r != nil || !errors.Is(err, tc.errno) {
					t.Fatalf("readv: %v, %v; want nil, %v", r, err, tc.errno)
				}
			} else {
				if err != nil || r.Size() != tc.size {
					t.Fatalf("readv: %v, %v", r, err)
				}
				r.Unref()
			}
			if a := g.Env().Iobufs.Stats().Active(); a != active {
				t.Fatalf("iobufs active %d after the read, %d before: the dropped iobref leaked", a, active)
			}
			if b := breaches(g, "l1"); b != uint64(1) {
				t.Fatalf("fop-contract-breaches = %v, want 1", b)
			}
		})
	}
}

// TestRangeChecks: bad ranges, and tmpfile arguments open(2) refuses,
// never reach a translator.
func TestRangeChecks(t *testing.T) {
	g, l, fd := liarGraph(t, "")
	c := xlatortest.Begin(g, xlator.FopReadv)
	defer c.Done()
	top := g.Top()
	data := g.Env().Iobufs.FromBytes(make([]byte, 10))
	defer data.Unref()
	before := l.calls
	root := g.Inodes().Root()
	tmpfile := func(loc *xlator.Loc, flags uint32) error {
		in := g.Inodes().New()
		defer in.Unref()
		loc.Inode = in
		tfd := g.NewFD(in, flags, 1, false)
		defer tfd.Unref()
		_, err := top.Tmpfile(c, loc, flags, 0o600, 0, tfd)
		return err
	}
	for _, tc := range []struct {
		what  string
		err   error
		errno syscall.Errno
	}{
		{"readv negative size", func() error { _, err := top.Readv(c, fd, -1, 0); return err }(), syscall.EINVAL},
		{"readv negative offset", func() error { _, err := top.Readv(c, fd, 1, -1); return err }(), syscall.EINVAL},
		{"readv offset+size overflows", func() error { _, err := top.Readv(c, fd, 10, math.MaxInt64-5); return err }(), syscall.EINVAL},
		{"writev negative offset", func() error { _, err := top.Writev(c, fd, data, -1); return err }(), syscall.EINVAL},
		{"writev offset+size overflows", func() error { _, err := top.Writev(c, fd, data, math.MaxInt64-5); return err }(), syscall.EINVAL},
		{"writev nil data", func() error { _, err := top.Writev(c, fd, nil, 0); return err }(), syscall.EINVAL},
		{"fallocate negative length", top.Fallocate(c, fd, 0, 0, -1), syscall.EINVAL},
		{"fallocate zero length", top.Fallocate(c, fd, 0, 0, 0), syscall.EINVAL},
		{"fallocate overflow", top.Fallocate(c, fd, 0, math.MaxInt64-5, 10), syscall.EFBIG},
		{"discard negative length", top.Discard(c, fd, 0, -4096), syscall.EINVAL},
		{"discard negative offset", top.Discard(c, fd, -1, 4096), syscall.EINVAL},
		{"zerofill overflow", top.Zerofill(c, fd, 1, math.MaxInt64), syscall.EFBIG},
		{"tmpfile read-only", tmpfile(&xlator.Loc{Parent: root}, syscall.O_RDONLY), syscall.EINVAL},
		{"tmpfile with a name", tmpfile(&xlator.Loc{Parent: root, Name: "x"}, syscall.O_RDWR), syscall.EINVAL},
		{"tmpfile without a directory", tmpfile(&xlator.Loc{}, syscall.O_WRONLY), syscall.EINVAL},
	} {
		if !errors.Is(tc.err, tc.errno) {
			t.Errorf("%s: %v, want %v", tc.what, tc.err, tc.errno)
		}
	}
	if l.calls != before {
		t.Fatalf("%d bad ranges reached the translator", l.calls-before)
	}
}
