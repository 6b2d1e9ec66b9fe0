package rpc

import (
	"reflect"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestIattCrossesIntact: every field of xlator.Iatt survives the trip
// through the protocol's message (a field added to Iatt and forgotten in
// conv.go fails here), and a message from a peer that predates btime and
// mask gives mask 0 and no birth time.
func TestIattCrossesIntact(t *testing.T) {
	var a xlator.Iatt
	v := reflect.ValueOf(&a).Elem()
	n := 1
	var fill func(f reflect.Value)
	fill = func(f reflect.Value) {
		switch f.Kind() {
		case reflect.Struct:
			for i := 0; i < f.NumField(); i++ {
				fill(f.Field(i))
			}
		case reflect.Array:
			for i := 0; i < f.Len(); i++ {
				fill(f.Index(i))
			}
		case reflect.Uint8, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(n))
		case reflect.Int64:
			f.SetInt(int64(n))
		default:
			t.Fatalf("Iatt has a field of kind %v this test does not fill", f.Kind())
		}
		n++
	}
	fill(v)
	if got := iattFrom(iattTo(&a)); got != a {
		t.Errorf("after the protocol:\n got %+v\nwant %+v", got, a)
	}
	old := iattTo(&a)
	old.Btime, old.Mask = nil, 0
	if got := iattFrom(old); got.Mask != 0 || got.HasBtime() || got.Btime != (xlator.Timespec{}) {
		t.Errorf("a peer without btime and mask: mask %#x, btime %v; want neither", got.Mask, got.Btime)
	}
}
