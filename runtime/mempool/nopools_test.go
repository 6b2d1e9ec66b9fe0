package mempool

import (
	"testing"

	"github.com/xstack/xstack/internal/nopools"
)

// skipNoPools skips a test of the pool's own behaviour in a nopools build,
// where there is no pool: Get is new(T) and Put forgets.
func skipNoPools(t *testing.T) {
	t.Helper()
	if nopools.On {
		t.Skip("built with nopools: Get is new(T), Put forgets")
	}
}

// TestNoPools: in a nopools build every Get is a new zero object and Put
// accepts anything; in a normal build Get reuses what Put took back.
func TestNoPools(t *testing.T) {
	p := New[[8]int64](nil, "v", "x", 4)
	a := p.Get()
	a[0] = 7
	if err := p.Put(a); err != nil {
		t.Fatal(err)
	}
	b := p.Get()
	if nopools.On && (b == a || b[0] != 0) {
		t.Errorf("nopools: Get returned a used object")
	}
	if !nopools.On && b != a {
		t.Errorf("Get did not reuse the object Put took back")
	}
}
