package xlator_test

import (
	"testing"
	"time"

	"github.com/xstack/xstack/xlator"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false}, {"4096", 4096, false}, {"128KiB", 128 << 10, false}, {"128k", 128 << 10, false},
		{"1MiB", 1 << 20, false}, {"1mb", 1 << 20, false}, {"1.5MiB", 3 << 19, false}, {"2GiB", 2 << 30, false},
		{"1TB", 1 << 40, false}, {" 64 KiB ", 64 << 10, false}, {"12B", 12, false},
		{"", 0, true}, {"KiB", 0, true}, {"12parsecs", 0, true}, {"1.5", 0, true}, {"99999999TiB", 0, true},
	}
	for _, c := range cases {
		got, err := xlator.ParseSize(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d (err %v)", c.in, got, err, c.want, c.err)
		}
	}
	if s := xlator.FormatSize(128 << 10); s != "128KiB" {
		t.Errorf("FormatSize %q", s)
	}
	if s := xlator.FormatSize(1000); s != "1000B" {
		t.Errorf("FormatSize %q", s)
	}
}

func TestParseScalar(t *testing.T) {
	cases := []struct {
		opt  xlator.Option
		in   string
		want xlator.Value
		err  bool
	}{
		{xlator.Option{Kind: xlator.KindBool}, "on", xlator.Value{Kind: xlator.KindBool, Bool: true}, false},
		{xlator.Option{Kind: xlator.KindBool}, "maybe", xlator.Value{}, true},
		{xlator.Option{Kind: xlator.KindInt, Min: 1, Max: 10}, "10", xlator.Value{Kind: xlator.KindInt, Int: 10}, false},
		{xlator.Option{Kind: xlator.KindInt, Min: 1, Max: 10}, "11", xlator.Value{}, true},
		{xlator.Option{Kind: xlator.KindInt}, "1.5", xlator.Value{}, true},
		{xlator.Option{Kind: xlator.KindSize, Min: 16 << 10}, "8KiB", xlator.Value{}, true},
		{xlator.Option{Kind: xlator.KindDuration}, "250ms", xlator.Value{Kind: xlator.KindDuration, Int: int64(250 * time.Millisecond)}, false},
		{xlator.Option{Kind: xlator.KindDuration}, "3", xlator.Value{Kind: xlator.KindDuration, Int: int64(3 * time.Second)}, false},
		{xlator.Option{Kind: xlator.KindDuration}, "3 fortnights", xlator.Value{}, true},
		{xlator.Option{Kind: xlator.KindEnum, Enum: []string{"none", "data"}}, "DATA", xlator.Value{Kind: xlator.KindEnum, Str: "data"}, false},
		{xlator.Option{Kind: xlator.KindEnum, Enum: []string{"none", "data"}}, "all", xlator.Value{}, true},
	}
	for _, c := range cases {
		got, err := c.opt.ParseScalar(c.in)
		if (err != nil) != c.err {
			t.Errorf("%v %q: err %v, want err %v", c.opt.Kind, c.in, err, c.err)
			continue
		}
		if !c.err && (got.Int != c.want.Int || got.Bool != c.want.Bool || got.Str != c.want.Str) {
			t.Errorf("%v %q = %+v, want %+v", c.opt.Kind, c.in, got, c.want)
		}
	}
}

func TestOptionsPatterns(t *testing.T) {
	o := xlator.NewOptions()
	o.Set("p", xlator.Value{Kind: xlator.KindSizeMap, Map: map[string]int64{"*.iso": 1 << 20, "*": 4096}, Order: []string{"*.iso", "*"}}, true)
	ps := o.Patterns("p")
	if len(ps) != 2 || !ps[0].Match("a.iso") || ps[0].Match("a.txt") || ps[0].Value != 1<<20 {
		t.Fatalf("patterns %+v", ps)
	}
	if !o.IsSet("p") || o.IsSet("q") {
		t.Fatal("IsSet")
	}
}

func TestSchemaDecode(t *testing.T) {
	s := xlator.Schema{
		{Name: "size", Kind: xlator.KindSize, Default: "128KiB", Min: 4096},
		{Name: "on", Kind: xlator.KindBool, Default: "false"},
		{Name: "name", Kind: xlator.KindString},
	}
	o, err := s.Decode(map[string]string{"on": "yes"})
	if err != nil || o.Size("size") != 128<<10 || !o.Bool("on") || !o.IsSet("on") || o.IsSet("size") || o.Has("name") {
		t.Fatalf("%+v %v", o, err)
	}
	if _, err := s.Decode(map[string]string{"sise": "1"}); err == nil {
		t.Fatal("unknown option accepted")
	}
	if _, err := s.Decode(map[string]string{"size": "1KiB"}); err == nil {
		t.Fatal("out-of-range value accepted")
	}
}

// TestParseKind: every kind's String parses back to it; nothing else does.
func TestParseKind(t *testing.T) {
	for _, k := range []xlator.Kind{xlator.KindString, xlator.KindBool, xlator.KindInt, xlator.KindSize, xlator.KindDuration,
		xlator.KindEnum, xlator.KindPath, xlator.KindSizeMap, xlator.KindIntMap} {
		if got, ok := xlator.ParseKind(k.String()); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, ok)
		}
	}
	for _, bad := range []string{"", "Size", "kind(9)", "sizemap"} {
		if _, ok := xlator.ParseKind(bad); ok {
			t.Errorf("ParseKind(%q) succeeded", bad)
		}
	}
}
