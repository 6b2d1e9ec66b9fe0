package mempool

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func names(s []Stats) []string {
	var n []string
	for _, st := range s {
		n = append(n, st.Name)
	}
	return n
}

func TestRegistry(t *testing.T) {
	skipNoPools(t)
	core, logs := observer.New(zapcore.WarnLevel)
	reg := NewRegistry(zap.New(core))
	b := New[rec](reg, "b", "x", 1)
	ay := New[rec](reg, "a", "y", 1)
	ax := New[rec](reg, "a", "x", 1)
	if ax.Name() != "a:x" {
		t.Errorf("first pool named %q, want a:x", ax.Name())
	}
	ax2 := New[int](reg, "a", "x", 1) // duplicate name, any type
	ax3 := New[rec](reg, "a", "x", 1)

	if ax2.Name() != "a:x#2" || ax3.Name() != "a:x#3" {
		t.Errorf("duplicates named %q %q, want a:x#2 a:x#3", ax2.Name(), ax3.Name())
	}
	if n := logs.FilterMessage("mempool: duplicate pool name, renamed").Len(); n != 2 {
		t.Errorf("%d duplicate warnings, want 2", n)
	}

	tests := []struct {
		name string
		got  []Stats
		want []string
	}{
		{"Pools", reg.Pools(), []string{"a:x", "a:x#2", "a:x#3", "a:y", "b:x"}},
		{"ByOwner(a)", reg.ByOwner("a"), []string{"a:x", "a:x#2", "a:x#3", "a:y"}},
		{"ByOwner(b)", reg.ByOwner("b"), []string{"b:x"}},
		{"ByOwner(none)", reg.ByOwner("none"), nil},
	}
	for _, tc := range tests {
		if got := names(tc.got); !slices.Equal(got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.name, got, tc.want)
		}
	}

	// Close("a") with one object of a:y still out: a leak warning.
	leaked := ay.Get()
	closed := reg.Close("a")
	if got := names(closed); !slices.Equal(got, []string{"a:x", "a:x#2", "a:x#3", "a:y"}) {
		t.Errorf("Close(a) = %q", got)
	}
	if closed[3].Hot != 1 {
		t.Errorf("Close(a) reports a:y hot-count %d, want 1", closed[3].Hot)
	}
	if n := logs.FilterMessage("mempool: pool destroyed with objects in use").Len(); n != 1 {
		t.Errorf("%d leak warnings, want 1", n)
	}
	if got := names(reg.Pools()); !slices.Equal(got, []string{"b:x"}) {
		t.Errorf("after Close(a): Pools = %q", got)
	}
	// The closed pool still takes back what is in flight.
	if err := ay.Put(leaked); err != nil {
		t.Errorf("late Put after Close: %v", err)
	}
	// A new a:x after Close gets the plain name again.
	if p := New[rec](reg, "a", "x", 1); p.Name() != "a:x" {
		t.Errorf("re-created pool named %q", p.Name())
	}

	if st := b.Destroy(); st.Name != "b:x" || st.Hot != 0 {
		t.Errorf("Destroy = %+v", st)
	}
	b.Destroy() // idempotent
	if got := names(reg.ByOwner("b")); got != nil {
		t.Errorf("after Destroy: ByOwner(b) = %q", got)
	}
	if reg.Close("b") == nil || len(reg.Close("b")) != 0 {
		t.Errorf("Close of an owner with no pools should be empty and non-nil")
	}
}

func TestBadPutWarningsAreRateLimited(t *testing.T) {
	skipNoPools(t)
	core, logs := observer.New(zapcore.WarnLevel)
	reg, clock := newClockRegistry()
	reg.log = zap.New(core)
	p := New[rec](reg, "v", "rec", 4)
	x := p.Get()
	_ = p.Put(x)
	for range 10 {
		if err := p.Put(x); !errors.Is(err, ErrDoublePut) {
			t.Fatalf("Put = %v", err)
		}
	}
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d warnings in one second, want 1", n)
	}
	clock.add(warnEvery)
	_ = p.Put(nil)
	all := logs.All()
	if len(all) != 2 {
		t.Fatalf("%d warnings, want 2", len(all))
	}
	ctx := all[1].ContextMap()
	if ctx["pool"] != "v:rec" || ctx["suppressed"] != int64(9) {
		t.Errorf("second warning context %v, want pool v:rec, suppressed 9", ctx)
	}
	if st := p.Stats(); st.PutErrors != 11 || st.DoublePuts != 10 || st.ForeignPuts != 1 {
		t.Errorf("put-errors %d double %d foreign %d, want 11 10 1", st.PutErrors, st.DoublePuts, st.ForeignPuts)
	}
}

func TestStatsFieldsMatchJSON(t *testing.T) {
	s := Stats{Name: "v:locals", Owner: "v", Active: 1, SizeofType: 2, PaddedSizeof: 3, Size: 4,
		Hot: 5, Cold: 6, AllocCount: 7, MaxAlloc: 8, Misses: 9, CurStdalloc: 10, MaxStdalloc: 11,
		PutErrors: 12, DoublePuts: 13, ForeignPuts: 14, Prealloc: 15}
	fields := s.Fields()
	typ := reflect.TypeOf(s)
	if len(fields) != typ.NumField() {
		t.Fatalf("Fields has %d entries, Stats %d fields", len(fields), typ.NumField())
	}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for i, kv := range fields {
		if tag := typ.Field(i).Tag.Get("json"); tag != kv.Key {
			t.Errorf("field %d: json tag %q, Fields key %q", i, tag, kv.Key)
		}
		var v string
		switch x := m[kv.Key].(type) {
		case string:
			v = x
		case float64:
			v = strconv.FormatInt(int64(x), 10)
		}
		if v != kv.Value {
			t.Errorf("%s: JSON %q, Fields %q", kv.Key, v, kv.Value)
		}
	}
	if fields[0] != (KV{"pool-name", "v:locals"}) {
		t.Errorf("first field %v", fields[0])
	}
}

func TestStatsSub(t *testing.T) {
	prev := Stats{Name: "v:x", Hot: 3, Cold: 1, AllocCount: 10, MaxAlloc: 4, Misses: 2,
		CurStdalloc: 1, MaxStdalloc: 2, PutErrors: 1, DoublePuts: 1}
	cur := Stats{Name: "v:x", Hot: 1, Cold: 3, AllocCount: 25, MaxAlloc: 6, Misses: 5,
		CurStdalloc: 0, MaxStdalloc: 2, PutErrors: 4, DoublePuts: 2, ForeignPuts: 2}
	want := Stats{Name: "v:x", Hot: 1, Cold: 3, AllocCount: 15, MaxAlloc: 6, Misses: 3,
		CurStdalloc: 0, MaxStdalloc: 2, PutErrors: 3, DoublePuts: 1, ForeignPuts: 2}
	if got := cur.Sub(prev); got != want {
		t.Errorf("Sub:\n got %+v\nwant %+v", got, want)
	}
}

func TestStartSweeperPanicsOnBadInterval(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewRegistry(nil).StartSweeper(0, time.Second)
}

// TestRegistryShrink: Shrink releases every cold heap object of every pool
// at once, however recently put back, and counts their bytes.
func TestRegistryShrink(t *testing.T) {
	skipNoPools(t)
	reg := NewRegistry(nil)
	p := New[rec](reg, "v", "x", 0) // every Get is a heap object
	q := New[[64]byte](reg, "v", "y", 0)
	var ps []*rec
	for range 3 {
		ps = append(ps, p.Get())
	}
	qs := q.Get()
	for _, x := range ps {
		if err := p.Put(x); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Put(qs); err != nil {
		t.Fatal(err)
	}
	objs, bytes := reg.Shrink()
	if want := 3*p.Stats().PaddedSizeof + q.Stats().PaddedSizeof; objs != 4 || bytes != want {
		t.Errorf("Shrink = %d objects, %d bytes; want 4, %d", objs, bytes, want)
	}
	if s := p.Stats(); s.CurStdalloc != 0 {
		t.Errorf("cur-stdalloc %d after Shrink", s.CurStdalloc)
	}
	if objs, _ := reg.Shrink(); objs != 0 {
		t.Errorf("second Shrink released %d", objs)
	}
}
