package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/mount/fuse"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/builtin"
	"github.com/xstack/xstack/xlators/writebehind"
)

// wbVolfile is write-behind over a fault injector (wbFault, failing
// nothing until a test says so) over one posix brick.
const wbVolfile = `variable "data" {}

volume "brick" {
  type             = "posix"
  directory        = "${var.data}/brick"
  create-directory = true
}

volume "fault" {
  type       = "wb-fault"
  subvolumes = ["brick"]
}

volume "wb" {
  type       = "write-behind"
  subvolumes = ["fault"]
}
`

// wbFault fails writevs with errno while it is set; unlike xlatortest's
// Fault it may be switched while fops are in flight.
type wbFault struct {
	xlator.Base
	errno atomic.Int32
}

var wbFaultType = xlator.Type{Name: "wb-fault", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &wbFault{} }}

func (f *wbFault) set(e syscall.Errno) { f.errno.Store(int32(e)) }

func (f *wbFault) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	if e := f.errno.Load(); e != 0 {
		return 0, syscall.Errno(e)
	}
	return f.Base.Writev(c, fd, data, off)
}

// mountWB mounts wbVolfile with the built-in types and "wb-fault".
func mountWB(t *testing.T) (*mounted, *writebehind.WriteBehind, *wbFault) {
	t.Helper()
	if err := fuse.Available(); err != nil {
		t.Skipf("FUSE is not available here: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "wb.hcl")
	if err := os.WriteFile(path, []byte(wbVolfile), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	reg := builtin.Registry()
	reg.MustRegister(wbFaultType)
	st, err := stack.Open(path, stack.Options{Vars: map[string]string{"data": filepath.Join(dir, "data")}, Registry: reg})
	if err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	srv, err := fuse.Mount(st.Graph, fuse.DefaultConfig(mnt))
	if err != nil {
		st.Close()
		t.Fatalf("mount: %v", err)
	}
	m := &mounted{st: st, srv: srv, mnt: mnt, dir: dir}
	t.Cleanup(func() { m.unmount(t) })
	wb := xlator.Unwrap(st.Graph.Xlator("wb")).(*writebehind.WriteBehind)
	fault := xlator.Unwrap(st.Graph.Xlator("fault")).(*wbFault)
	return m, wb, fault
}

// TestWriteBehindDD writes 64 MiB with dd bs=4k through write-behind and
// checks the bytes on the brick and through the mount, and that the
// writes went down aggregated.
func TestWriteBehindDD(t *testing.T) {
	need(t, "dd")
	m, wb, _ := mountWB(t)
	src := filepath.Join(m.dir, "src")
	want := make([]byte, 64<<20)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "", "dd", "if="+src, "of="+filepath.Join(m.mnt, "f"), "bs=4k", "status=none")

	onBrick, err := os.ReadFile(filepath.Join(m.dir, "data", "brick", "f"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onBrick, want) {
		t.Fatalf("brick file: %d bytes, differs from what dd wrote (%d bytes)", len(onBrick), len(want))
	}
	got, err := os.ReadFile(filepath.Join(m.mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read through the mount: %d bytes, differs", len(got))
	}
	s := wb.Stats()
	if s.Behind < (64<<20)/4096/2 || s.Aggregated == 0 || s.ChildWrites*16 > s.Behind {
		t.Errorf("writes were not held and aggregated: %+v", s)
	}
	if s.HeldBytes != 0 || s.FailedWrites != 0 {
		t.Errorf("after close: %+v", s)
	}
	checkQuiescent(t, m)
}

// TestWriteBehindErrorReachesCaller: a write acknowledged early that then
// fails on the brick reaches the program as the error of its next
// write, of fsync, or of close.
func TestWriteBehindErrorReachesCaller(t *testing.T) {
	m, wb, fault := mountWB(t)
	for i, tc := range []struct {
		name   string
		report func(f *os.File) error
	}{
		{"fsync", func(f *os.File) error { return f.Sync() }},
		{"close", func(f *os.File) error { return f.Close() }},
		{"next write", func(f *os.File) error {
			// A read of the written range flushes; the held write fails
			// (so the read finds an empty file), and the next write
			// reports it.
			_, _ = f.ReadAt(make([]byte, 10), 0)
			_, err := f.Write(bytes.Repeat([]byte("y"), 4096))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.OpenFile(filepath.Join(m.mnt, fmt.Sprintf("e%d", i)), os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close() // a second close (after "close") only errs
			if _, err := f.Write(bytes.Repeat([]byte("x"), 4096)); err != nil {
				t.Fatalf("write: %v", err)
			}
			if s := wb.Stats(); s.HeldWrites != 1 {
				t.Fatalf("the write was not held: %+v", s)
			}
			fault.set(syscall.EIO)
			err = tc.report(f)
			fault.set(0)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("%s: %v, want EIO", tc.name, err)
			}
		})
	}
	if s := wb.Stats(); s.LateErrors != 3 || s.Unreported != 0 {
		t.Errorf("stats %+v", s)
	}
	checkQuiescent(t, m)
}

// TestWriteBehindODirect: an O_DIRECT write is not held.
func TestWriteBehindODirect(t *testing.T) {
	m, wb, _ := mountWB(t)
	fd, err := unix.Open(filepath.Join(m.mnt, "d"), unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT, 0o644)
	if err != nil {
		t.Skipf("O_DIRECT open on the mount: %v", err)
	}
	defer unix.Close(fd)
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(buf)
	if _, err := unix.Pwrite(fd, buf, 0); err != nil {
		t.Fatal(err)
	}
	if s := wb.Stats(); s.HeldWrites != 0 || s.Bypassed == 0 {
		t.Fatalf("O_DIRECT write held: %+v", s)
	}
}
