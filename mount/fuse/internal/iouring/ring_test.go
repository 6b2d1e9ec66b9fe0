package iouring

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func newRing(t *testing.T, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries, 0)
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
		t.Skipf("skipping: io_uring is not available here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestReadCompletes submits a READ of a pipe, which completes once the
// pipe is written, with the entry's user data and the byte count.
func TestReadCompletes(t *testing.T) {
	r := newRing(t, 4)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if err := r.RegisterFiles([]int32{int32(p[0])}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	for round := range 3 { // the queues wrap around their indexes
		for i := range 2 {
			e, err := r.Get()
			if err != nil {
				t.Fatal(err)
			}
			e.Opcode, e.Flags, e.Fd = OpRead, SQEFixedFile, 0
			e.Addr, e.Len = uint64(uintptr(unsafe.Pointer(&buf[i*8]))), 8
			e.Off = ^uint64(0) // the file's position: a pipe has none
			e.UserData = uint64(round*10 + i + 1)
		}
		if err := r.Submit(0); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Peek(); ok {
			t.Fatal("a completion before the pipe was written")
		}
		if _, err := unix.Write(p[1], []byte("abcdefghABCDEFGH")); err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]int32{}
		for len(seen) < 2 {
			if err := r.Submit(1); err != nil {
				t.Fatal(err)
			}
			for c, ok := r.Peek(); ok; c, ok = r.Peek() {
				seen[c.UserData] = c.Res
				r.Advance()
			}
		}
		for i := range 2 {
			if res := seen[uint64(round*10+i+1)]; res != 8 {
				t.Errorf("round %d: read %d completed with %d, want 8 (all: %v)", round, i, res, seen)
			}
		}
		// Both reads wait on the pipe; which one the kernel wakes first is its choice.
		if got := string(buf); got != "abcdefghABCDEFGH" && got != "ABCDEFGHabcdefgh" {
			t.Errorf("round %d: read %q", round, buf)
		}
	}
}

// TestGetFull: Get refuses once every submission entry is taken.
func TestGetFull(t *testing.T) {
	r := newRing(t, 2)
	for range 2 {
		if _, err := r.Get(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Get(); !errors.Is(err, ErrFull) {
		t.Fatalf("third Get of a 2-entry ring: %v, want ErrFull", err)
	}
}

// TestSQELayout: the SQE's fields sit where the kernel reads them.
func TestSQELayout(t *testing.T) {
	var e SQE
	if s := unsafe.Sizeof(e); s != 128 {
		t.Errorf("SQE is %d bytes, want 128", s)
	}
	if o := unsafe.Offsetof(e.UserData); o != 32 {
		t.Errorf("user_data at %d, want 32", o)
	}
	if o := unsafe.Offsetof(e.Cmd); o != 48 {
		t.Errorf("cmd at %d, want 48", o)
	}
	if s := unsafe.Sizeof(params{}); s != 120 {
		t.Errorf("io_uring_params is %d bytes, want 120", s)
	}
}
