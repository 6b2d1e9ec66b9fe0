package host

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestDecodeOptions: the start-time decoding of a plugin volume's options
// against the running plugin's schema, case by case: values as written,
// values a Spec built in code gives already decoded, defaults, and every
// error with the option and where the volfile gives it.
func TestDecodeOptions(t *testing.T) {
	s := xlator.Schema{
		{Name: "size", Kind: xlator.KindSize, Default: "4KiB", Min: 512, Max: 1 << 20},
		{Name: "mode", Kind: xlator.KindEnum, Enum: []string{"fast", "safe"}, Default: "safe"},
		{Name: "key", Kind: xlator.KindString, Required: true, Doc: "the key"},
		{Name: "limits", Kind: xlator.KindIntMap},
	}
	str := func(s string) xlator.Literal { return xlator.Literal{Type: xlator.LitString, Text: s} }
	lit := func(name string, l xlator.Literal, line string) xlator.LiteralOption {
		return xlator.LiteralOption{Name: name, Value: l, Pos: "v.hcl:" + line}
	}
	host := xlator.NewOptions()
	host.Set("path", xlator.Value{Kind: xlator.KindPath, Str: "/bin/p"}, true)
	host.Set("shm-size", xlator.Value{Kind: xlator.KindSize, Int: 1 << 20}, false)
	withCode := func(name string, v xlator.Value) xlator.Options {
		o := xlator.NewOptions()
		o.Set("path", xlator.Value{Kind: xlator.KindPath, Str: "/bin/p"}, true)
		o.Set(name, v, true)
		return o
	}

	for _, tc := range []struct {
		name string
		lits []xlator.LiteralOption
		opts xlator.Options
		want map[string]xlator.Value // when it decodes
		errs []string                // when it fails: what the error says
	}{
		{name: "as written, defaults for the rest",
			lits: []xlator.LiteralOption{lit("key", str("k1"), "3:3"), lit("size", xlator.Literal{Type: xlator.LitNumber, Text: "8192"}, "4:3")},
			opts: host,
			want: map[string]xlator.Value{"size": {Kind: xlator.KindSize, Int: 8192}, "mode": {Kind: xlator.KindEnum, Str: "safe"},
				"key": {Kind: xlator.KindString, Str: "k1"}, "limits": {Kind: xlator.KindIntMap, Map: map[string]int64{}}}},
		{name: "built in code",
			opts: withCode("key", xlator.Value{Kind: xlator.KindString, Str: "k2"}),
			want: map[string]xlator.Value{"size": {Kind: xlator.KindSize, Int: 4096}, "mode": {Kind: xlator.KindEnum, Str: "safe"},
				"key": {Kind: xlator.KindString, Str: "k2"}, "limits": {Kind: xlator.KindIntMap, Map: map[string]int64{}}}},
		{name: "every error at once",
			lits: []xlator.LiteralOption{lit("sise", str("1KiB"), "3:3"), lit("size", str("2MiB"), "4:3"),
				lit("mode", str("slow"), "5:3"), lit("limits", str("x"), "6:3")},
			opts: host,
			errs: []string{`v.hcl:3:3: option "sise": the plugin has no such option; it takes "size", "mode", "key", "limits"`,
				`v.hcl:4:3: option "size": 2MiB is out of range [512B, 1MiB]`,
				`v.hcl:5:3: option "mode": "slow" is not one of fast, safe`,
				`v.hcl:6:3: option "limits" takes an object of glob = number`,
				`v.hcl:1:1: missing required option "key" (the key), a string; add key = ... to volume "v"`}},
		{name: "built in code with the wrong kind",
			lits: []xlator.LiteralOption{lit("key", str("k"), "3:3")},
			opts: withCode("size", xlator.Value{Kind: xlator.KindInt, Int: 1}),
			errs: []string{`option "size" is a int; the plugin's is a size`}},
		{name: "built in code, unknown",
			lits: []xlator.LiteralOption{lit("key", str("k"), "3:3")},
			opts: withCode("speed", xlator.Value{Kind: xlator.KindInt, Int: 1}),
			errs: []string{`option "speed": the plugin has no such option`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := &xlator.VolumeSpec{Name: "v", Pos: "v.hcl:1:1", Literals: tc.lits}
			got, err := decodeOptions(s, vs, tc.opts)
			if tc.errs != nil {
				if err == nil {
					t.Fatalf("decoded %v", got.Names())
				}
				for _, w := range tc.errs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Names(), ",") != "key,limits,mode,size" {
				t.Errorf("options %v: want the plugin's four, no host option", got.Names())
			}
			for name, want := range tc.want {
				if v, _ := got.Get(name); !reflect.DeepEqual(v, want) {
					t.Errorf("%s = %+v, want %+v", name, v, want)
				}
			}
			if !got.IsSet("key") || got.IsSet("mode") {
				t.Errorf("given: key %v (want true), mode %v (want false)", got.IsSet("key"), got.IsSet("mode"))
			}
		})
	}
}
