package plugin

import (
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
)

// TestArenaSlotRefs: a slot is free only once every reference, from
// either process, is dropped; borrowed data keeps it past the call.
func TestArenaSlotRefs(t *testing.T) {
	a, err := newArena("test", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	pool, err := iobuf.New(iobuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	slot, buf, ok := a.alloc(shmMin, shmMin) // the sender's reference
	if !ok {
		t.Fatal("no slot")
	}
	copy(buf, "payload")
	// The receiver borrows it for as long as it keeps the data.
	ref, ok := a.borrow(pool, uint32(slot), uint32(len(buf)), true)
	if !ok {
		t.Fatal("borrow failed")
	}
	if s, ok := a.slotOfRef(ref); !ok || s != uint32(slot) {
		t.Fatalf("slotOfRef = %d, %v; want %d", s, ok, slot)
	}
	a.drop(uint32(slot)) // the sender got its reply
	if a.inUse() != 1 {
		t.Fatalf("slots in use %d while the receiver keeps the data, want 1", a.inUse())
	}
	if got := string(ref.Seg(0)[:7]); got != "payload" {
		t.Fatalf("borrowed data %q", got)
	}
	// A next allocation must not get the held slot.
	if s2, _, ok := a.alloc(shmMin, shmMin); !ok || s2 == slot {
		t.Fatalf("alloc gave slot %d (held: %d), ok %v", s2, slot, ok)
	} else {
		a.drop(uint32(s2))
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
	a.drop(uint32(slot))
	if a.inUse() != 0 {
		t.Fatal("surplus drop took the slot")
	}
}
