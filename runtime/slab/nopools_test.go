package slab

import (
	"testing"

	"github.com/xstack/xstack/internal/nopools"
)

// skipNoPools skips a test of the cache's own behaviour in a nopools
// build, where Alloc is make and Free forgets.
func skipNoPools(t *testing.T) {
	t.Helper()
	if nopools.On {
		t.Skip("built with nopools: Alloc is make, Free forgets")
	}
}

// TestNoPools: in a nopools build Alloc returns heap slices of the object
// size and Stats still counts allocations and active objects; a closed
// cache refuses Alloc in both builds.
func TestNoPools(t *testing.T) {
	c, err := New("t", Config{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Alloc()
	if err != nil || len(a) != 100 || cap(a) != 100 {
		t.Fatalf("Alloc: len %d cap %d, %v", len(a), cap(a), err)
	}
	b, _ := c.Alloc()
	if err := c.Free(a); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Allocs != 2 || st.ActiveObjects != 1 || st.Frees != 1 {
		t.Errorf("stats %+v: want 2 allocs, 1 active, 1 free", st)
	}
	if err := c.Free(b); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Alloc(); err == nil {
		t.Error("Alloc after Close succeeded")
	}
	if nopools.On && c.Stats().MappedBytes != 0 {
		t.Error("nopools: memory mapped")
	}
}
