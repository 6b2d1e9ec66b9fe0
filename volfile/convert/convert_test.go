package convert_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/volfile/convert"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/builtin"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func convertFile(t *testing.T, name string) (*convert.Result, error) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return convert.Convert(src, name, builtin.Registry())
}

// opt is an option's value as the volfile package writes it.
func opt(o xlator.Options, name string) string {
	v, _ := o.Get(name)
	return volfile.FormatValue(v)
}

func notes(r *convert.Result) string {
	var b strings.Builder
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "%d:%d: %s\n", n.Pos.Line, n.Pos.Col, n.Msg)
	}
	return b.String()
}

// TestBrickGraph: a brick graph as glusterd writes it (posix under locks
// under io-stats) converts to a posix volume with the options mapped and
// units rewritten under a locks volume; io-stats is left out with a
// comment and a note; the result loads.
func TestBrickGraph(t *testing.T) {
	r, err := convertFile(t, "brick.vol")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "brick.hcl", string(r.HCL))
	golden(t, "brick.notes", notes(r))
	f, diags := volfile.Parse(r.HCL, "brick.hcl", builtin.Registry(), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	spec := f.Spec
	if spec.Top != "gv0-locks" || len(spec.Volumes) != 2 {
		t.Fatalf("top %q, %d volumes; want gv0-locks over gv0-posix", spec.Top, len(spec.Volumes))
	}
	var v xlator.VolumeSpec
	for _, x := range spec.Volumes {
		switch x.Name {
		case "gv0-posix":
			v = x
		case "gv0-locks":
			if x.Type != "locks" || len(x.Subvolumes) != 1 || x.Subvolumes[0] != "gv0-posix" {
				t.Errorf("gv0-locks is %s over %v, want locks over gv0-posix", x.Type, x.Subvolumes)
			}
		}
	}
	for name, want := range map[string]string{
		"directory": "/srv/brick/gv0", "o-direct": "false", "reserve": "1GiB",
		"health-check-interval": "20s", "create-directory": "false",
	} {
		if got := opt(v.Options, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if strings.Contains(notes(r), "(features/locks)") ||
		!strings.Contains(notes(r), "count-fop-hits, latency-measurement go with it") {
		t.Errorf("notes do not say what was left out:\n%s", notes(r))
	}
}

// TestClientGraph: stripe's block-size list splits into block-size and
// block-size-pattern, GlusterFS's coalesce default is written out,
// io-cache's priority list becomes a map in the same order, fractional
// sizes and seconds convert.
func TestClientGraph(t *testing.T) {
	r, err := convertFile(t, "client.vol")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "client.hcl", string(r.HCL))
	f, diags := volfile.Parse(r.HCL, "client.hcl", builtin.Registry(), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if f.Spec.Top != "cache" {
		t.Errorf("top = %q", f.Spec.Top)
	}
	byName := map[string]*xlator.VolumeSpec{}
	for i := range f.Spec.Volumes {
		byName[f.Spec.Volumes[i].Name] = &f.Spec.Volumes[i]
	}
	for _, c := range []struct{ vol, opt, want string }{
		{"stripe", "block-size", "256KiB"},
		{"stripe", "coalesce", "true"},
		{"cache", "cache-size", "64MiB"},
		{"cache", "cache-timeout", "2s"},
		{"cache", "max-file-size", "512MiB"},
		{"b1", "directory", `"/srv/b 1"`},
	} {
		if got := opt(byName[c.vol].Options, c.opt); got != c.want {
			t.Errorf("%s.%s = %s, want %s", c.vol, c.opt, got, c.want)
		}
	}
	for _, want := range []string{`"*.iso" = "1MiB", "*.img" = "1536KiB"`, `"*.h" = 3, "*.c" = 2`} {
		if !strings.Contains(string(r.HCL), want) {
			t.Errorf("converted file lacks %s", want)
		}
	}
}

// TestRefused: an unknown type, a type without an equivalent, an option
// without one, a bad value and a missing subvolume are each refused at
// their line and column, all in one run, with the nearest equivalent.
func TestRefused(t *testing.T) {
	_, err := convertFile(t, "unknown.vol")
	var ce *convert.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *convert.Error", err)
	}
	golden(t, "unknown.err", err.Error()+"\n")
	for _, want := range []string{
		`unknown.vol:4:12: option "volume-id" of storage/posix has no xstack equivalent: xstack records a brick's identity`,
		`unknown.vol:7:10: GlusterFS type "protocol/client" has no xstack equivalent: xstack has no network translator`,
		`unknown.vol:12:10: GlusterFS type "features/frobnicate" has no xstack equivalent known to convert`,
		`unknown.vol:16:10: GlusterFS type "performance/io-cahe" has no xstack equivalent known to convert; did you mean "performance/io-cache"?`,
		`unknown.vol:18:21: subvolume "missing" of volume "c" is not defined`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestErrors: each bad input is refused at its place, and a problem found
// only when the result is loaded is reported at the GlusterFS line it
// came from.
func TestErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"empty", "# nothing\n", "x.vol:1:1: no volume in the file"},
		{"no end", "volume a\n type storage/posix\n option directory /d\n", `x.vol:1:8: volume "a" has no end-volume`},
		{"no type", "volume a\nend-volume\n", `x.vol:2:1: volume "a" has no type`},
		{"outside", "option a b\n", "x.vol:1:1: option outside a volume"},
		{"keyword", "volume a\n typo storage/posix\nend-volume\n", `x.vol:2:2: unknown keyword "typo"`},
		{"two values", "volume a\n type storage/posix\n option directory /a /b\nend-volume\n", "x.vol:3:2: option takes a key and one value, got 3 words"},
		{"quote", "volume a\n type storage/posix\n option directory \"/a\nend-volume\n", "x.vol:3:19: a quoted string that does not end on its line"},
		{"backslash", "volume a\n type storage/posix\n option directory /a\\b\nend-volume\n", "x.vol:3:21: a backslash outside a quoted string"},
		{"twice", "volume a\n type storage/posix\n option directory /a\n option directory /b\nend-volume\n", `x.vol:4:9: option "directory" is given twice`},
		{"dup volume", "volume a\n type storage/posix\n option directory /a\nend-volume\nvolume a\n type storage/posix\n option directory /a\nend-volume\n", `x.vol:5:8: volume "a" is defined twice (first at line 1)`},
		{"bad bool", "volume a\n type storage/posix\n option directory /a\n option o-direct maybe\nend-volume\n", `x.vol:4:18: option "o-direct": "maybe" is not a boolean`},
		{"percent", "volume a\n type storage/posix\n option directory /a\n option reserve 5\nend-volume\n", `x.vol:4:17: option "reserve": "5" is a percentage of the disk`},
		{"bad size", "volume a\n type storage/posix\n option directory /a\nend-volume\nvolume c\n type performance/io-cache\n option cache-size 12XB\n subvolumes a\nend-volume\n", `x.vol:7:20: option "cache-size": "12XB" is not a size`},
		{"fold two", "volume a\n type storage/posix\n option directory /a\nend-volume\nvolume l\n type debug/io-stats\n subvolumes a a\nend-volume\n", `x.vol:6:7: volume "l" (debug/io-stats) can be left out only with one subvolume, it has 2`},
		// Found when loading the result: reported at the option's line.
		{"too small", "volume a\n type storage/posix\n option directory /a\nend-volume\nvolume c\n type performance/io-cache\n option cache-size 1KB\n subvolumes a\nend-volume\n", "x.vol:7:9: the converted volfile does not load"},
		{"no directory", "volume a\n type storage/posix\nend-volume\n", "x.vol:1:8: the converted volfile does not load"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := convert.Convert([]byte(c.src), "x.vol", builtin.Registry())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// TestWords: words as GlusterFS's lexer takes them: a # inside a word is
// part of it, one beginning a word begins a comment, and a backslash in a
// quoted string takes the next character as it is.
func TestWords(t *testing.T) {
	src := "volume a # the brick\n type storage/posix\n option directory /srv/a#1 # here\n end-volume\n" +
		"volume b\n type storage/posix\n option directory \"/srv/\\\"b\\\\\"\nend-volume\n" +
		"volume s\n type cluster/stripe\n subvolumes a b\nend-volume\n"
	r, err := convert.Convert([]byte(src), "x.vol", builtin.Registry())
	if err != nil {
		t.Fatal(err)
	}
	f, diags := volfile.Parse(r.HCL, "x.hcl", builtin.Registry(), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for i, want := range []string{"/srv/a#1", `/srv/"b\`} {
		v, _ := f.Spec.Volumes[i].Options.Get("directory")
		if v.Str != want {
			t.Errorf("directory of %s = %q, want %q", f.Spec.Volumes[i].Name, v.Str, want)
		}
	}
}

// TestWriteBehindNeedsType: performance/write-behind converts, its
// options mapped, when the registry has a write-behind type, and is
// refused, saying so, when it has not.
func TestWriteBehindNeedsType(t *testing.T) {
	src := "volume a\n type storage/posix\n option directory /a\nend-volume\nvolume w\n type performance/write-behind\n" +
		" option cache-size 2MB\n option flush-behind on\n option strict-O_DIRECT off\n option strict-write-ordering yes\n subvolumes a\nend-volume\n"
	reg := builtin.Registry()
	r, err := convert.Convert([]byte(src), "x.vol", reg)
	if _, ok := reg.Lookup("write-behind"); ok {
		if err != nil {
			t.Fatal(err)
		}
		f, diags := volfile.Parse(r.HCL, "x.hcl", reg, nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		w := f.Spec.Volumes[1].Options
		for name, want := range map[string]string{"window-size": "2MiB", "flush-behind": "true", "strict-o-direct": "false", "strict-write-ordering": "true"} {
			if got := opt(w, name); got != want {
				t.Errorf("%s = %s, want %s", name, got, want)
			}
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), `x.vol:6:7: GlusterFS type "performance/write-behind" would become xstack's "write-behind", which this build does not have`) {
		t.Errorf("err = %v", err)
	}
}

// FuzzConvert: no input makes Convert panic, and whatever converts loads
// as xstack would load it.
func FuzzConvert(f *testing.F) {
	for _, name := range []string{"brick.vol", "client.vol", "unknown.vol"} {
		src, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("volume \"a b\"\n type storage/posix\n option directory \"${x}\"\nend-volume\n"))
	reg := builtin.Registry()
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := convert.Convert(src, "f.vol", reg)
		if err != nil {
			var ce *convert.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("err = %#v", err)
			}
			return
		}
		if _, diags := volfile.Parse(r.HCL, "f.hcl", reg, nil); diags.HasErrors() {
			t.Fatalf("converted file does not load: %v\n%s", diags, r.HCL)
		}
	})
}
