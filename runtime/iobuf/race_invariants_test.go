//go:build race

package iobuf

import "testing"

// TestRaceTurnsDebugOn: under the race detector (the README's test
// command) every pool runs in debug mode without asking for it: a freed
// page is poisoned.
func TestRaceTurnsDebugOn(t *testing.T) {
	skipNoPools(t)
	onOneP(t)
	p := newPool(t, Config{Classes: []Class{{4096, 4}}})
	b := p.Get(1)
	data := b.Bytes()
	copy(data, "hello")
	b.Unref()
	if data[0] != poisonByte {
		t.Errorf("a freed page of a pool without Config.Debug is not poisoned under -race: %#x", data[0])
	}
}
