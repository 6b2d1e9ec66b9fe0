package transport

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/iobuf"
)

// TestArenaSlotRefs: a slot is free only once every reference, from
// either process, is dropped; borrowed data keeps it past the call.
func TestArenaSlotRefs(t *testing.T) {
	a, err := NewArena("test", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pool, err := iobuf.New(iobuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	slot, buf, ok := a.alloc(ShmMin, ShmMin) // the sender's reference
	if !ok {
		t.Fatal("no slot")
	}
	copy(buf, "payload")
	// The receiver borrows it for as long as it keeps the data.
	ref, ok := a.Borrow(pool, uint32(slot), uint32(len(buf)), true)
	if !ok {
		t.Fatal("borrow failed")
	}
	if s, ok := a.slotOfRef(ref); !ok || s != uint32(slot) {
		t.Fatalf("slotOfRef = %d, %v; want %d", s, ok, slot)
	}
	a.Drop(uint32(slot)) // the sender got its reply
	if a.inUse() != 1 {
		t.Fatalf("slots in use %d while the receiver keeps the data, want 1", a.inUse())
	}
	if got := string(ref.Seg(0)[:7]); got != "payload" {
		t.Fatalf("borrowed data %q", got)
	}
	// A next allocation must not get the held slot.
	if s2, _, ok := a.alloc(ShmMin, ShmMin); !ok || s2 == slot {
		t.Fatalf("alloc gave slot %d (held: %d), ok %v", s2, slot, ok)
	} else {
		a.Drop(uint32(s2))
	}
	ref.Unref()
	if a.inUse() != 0 || pool.BorrowActive() != 0 {
		t.Fatalf("after the last reference: %d slots in use, %d borrowed iobufs", a.inUse(), pool.BorrowActive())
	}
	// Not a slot: pool memory, or a slot's middle.
	other := pool.FromBytes(make([]byte, 100))
	defer other.Unref()
	if _, ok := a.slotOfRef(other); ok {
		t.Fatal("pool memory taken for a slot")
	}
	// A surplus drop of a free slot is ignored, not an underflow.
	a.Drop(uint32(slot))
	if a.inUse() != 0 {
		t.Fatal("surplus drop took the slot")
	}
}

// TestArenaSeals: through the descriptor a plugin gets, or one it reopens
// by /proc, an arena's size cannot change and no seal can be added; a
// hole punched in it reads back as zeros in the host's mapping, without
// a fault.
func TestArenaSeals(t *testing.T) {
	a, err := NewArena("test", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fd := int(a.file.Fd())
	rw, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rw)
	size := int64(len(a.mem))
	for _, tc := range []struct {
		name string
		try  func(fd int) error
	}{
		{"ftruncate to 0", func(fd int) error { return unix.Ftruncate(fd, 0) }},
		{"ftruncate shorter", func(fd int) error { return unix.Ftruncate(fd, size-4096) }},
		{"ftruncate larger", func(fd int) error { return unix.Ftruncate(fd, size+4096) }},
		{"write past the end", func(fd int) error { _, err := unix.Pwrite(fd, []byte("x"), size); return err }},
		{"allocate past the end", func(fd int) error { return unix.Fallocate(fd, 0, size, 4096) }},
		{"add a seal", func(fd int) error {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
			return err
		}},
	} {
		for _, d := range []int{fd, rw} {
			if err := tc.try(d); err == nil {
				t.Errorf("%s (fd %d) succeeded", tc.name, d)
			}
		}
	}
	last := a.mem[len(a.mem)-8:]
	copy(last, "the tail")
	if err := unix.Fallocate(rw, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, size); err != nil {
		t.Fatalf("punch: %v", err)
	}
	if !bytes.Equal(last, make([]byte, 8)) {
		t.Fatalf("after a punched hole the host reads %q", last)
	}
}
