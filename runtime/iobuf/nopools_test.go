package iobuf

import (
	"testing"

	"github.com/xstack/xstack/internal/nopools"
)

// skipNoPools skips a test of the arenas and caches in a nopools build,
// where every buffer comes from the Go heap.
func skipNoPools(t *testing.T) {
	t.Helper()
	if nopools.On {
		t.Skip("built with nopools: buffers come from the Go heap")
	}
}

// TestNoPools: in a nopools build a Get maps nothing and gives a heap
// buffer of the class's size, page-aligned from a page up, counted as
// stdalloc until its last Unref; in both builds the sizes are the same.
func TestNoPools(t *testing.T) {
	p := newPool(t, Config{})
	small, page := p.Get(100), p.Get(5000)
	if len(small.Bytes()) != p.ClassSize(100) || len(page.Bytes()) != p.ClassSize(5000) {
		t.Errorf("sizes %d %d, want %d %d", len(small.Bytes()), len(page.Bytes()), p.ClassSize(100), p.ClassSize(5000))
	}
	if nopools.On {
		st := p.Stats()
		if st.MappedBytes != 0 || st.StdallocActive != 2 || st.Active() != 2 {
			t.Errorf("nopools stats: mapped %d, stdalloc %d", st.MappedBytes, st.StdallocActive)
		}
		if a := addr(page.Bytes()); a%uintptr(osPageSize) != 0 {
			t.Errorf("page-size heap buffer at %#x is not page-aligned", a)
		}
	}
	small.Unref()
	page.Unref()
	if a := p.Stats().Active(); a != 0 {
		t.Errorf("%d buffers active after Unref", a)
	}
}
