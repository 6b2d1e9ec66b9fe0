package volfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"go.uber.org/zap/zapcore"

	"github.com/xstack/xstack/xlator"
)

func mustLoad(t *testing.T, path string, vars map[string]string) (*File, *Diagnostics) {
	t.Helper()
	f, diags := Load(path, testRegistry(), vars)
	if diags.HasErrors() {
		var b bytes.Buffer
		diags.Write(&b, false, 0)
		t.Fatalf("%s:\n%s", path, b.String())
	}
	return f, diags
}

func names(vs []xlator.VolumeSpec) []string {
	var n []string
	for _, v := range vs {
		n = append(n, v.Name)
	}
	return n
}

func opt(t *testing.T, s *xlator.Spec, vol, name string) xlator.Value {
	t.Helper()
	v, ok := s.Volume(vol)
	if !ok {
		t.Fatalf("no volume %q", vol)
	}
	val, ok := v.Options.Get(name)
	if !ok {
		t.Fatalf("volume %q has no option %q", vol, name)
	}
	return val
}

func TestFull(t *testing.T) {
	f, diags := mustLoad(t, "testdata/good/full.hcl", map[string]string{"data": "/srv"})
	if diags != nil {
		t.Errorf("diagnostics on a clean file: %v", diags)
	}
	s := f.Spec
	if s.Top != "k" || s.Source != "testdata/good/full.hcl" {
		t.Errorf("top %q source %q", s.Top, s.Source)
	}
	if got, want := names(s.Volumes), []string{"brick0", "brick1", "stripe", "cache", "k"}; !reflect.DeepEqual(got, want) {
		t.Errorf("volumes %v, want declaration order %v", got, want)
	}
	if !reflect.DeepEqual(f.Vars, map[string]string{"data": "/srv", "mount": "./xstack-mnt", "size": "128"}) {
		t.Errorf("vars %v", f.Vars)
	}
	b0, _ := s.Volume("brick0")
	if b0.Pos != "testdata/good/full.hcl:14:1" || b0.LogLevel != zapcore.DebugLevel || b0.Type != "posix" {
		t.Errorf("brick0 %+v", b0)
	}
	o := b0.Options
	if o.String("directory") != "/srv/brick0" || !o.Bool("o-direct") || o.Size("reserve") != 1<<20 ||
		o.String("fsync") != "batch" || o.Duration("health-check-interval") != 30*time.Second {
		t.Errorf("brick0 options wrong: %v", o.Names())
	}
	if !o.Bool("create-directory") || o.IsSet("create-directory") {
		t.Errorf("default create-directory: got %v set=%v", o.Bool("create-directory"), o.IsSet("create-directory"))
	}
	if v := opt(t, s, "brick1", "reserve"); v.Int != 0 || v.Kind != xlator.KindSize {
		t.Errorf("null reserve: %+v", v)
	}
	if b1, _ := s.Volume("brick1"); b1.Options.IsSet("reserve") || b1.LogLevel != zapcore.InfoLevel {
		t.Errorf("brick1: reserve set=%v level %v", b1.Options.IsSet("reserve"), b1.LogLevel)
	}
	st, _ := s.Volume("stripe")
	if !reflect.DeepEqual(st.Subvolumes, []string{"brick0", "brick1"}) || st.Options.Size("block-size") != 128<<10 || st.Options.Bool("coalesce") {
		t.Errorf("stripe %+v", st)
	}
	pats := st.Options.Patterns("block-size-pattern")
	wantPats := []xlator.Pattern{{Glob: "*.iso", Value: 1 << 20}, {Glob: "*.img", Value: 65536}, {Glob: "big*", Value: 3 << 19}}
	if !reflect.DeepEqual(pats, wantPats) {
		t.Errorf("patterns %v, want written order %v", pats, wantPats)
	}
	c, _ := s.Volume("cache")
	if c.LogLevel != zapcore.WarnLevel || c.Options.Duration("cache-timeout") != 250*time.Millisecond ||
		c.Options.Int("read-ahead") != 4 || c.Options.Size("page-size") != 128<<10 {
		t.Errorf("cache %+v", c)
	}
	if got := c.Options.Patterns("priority"); !reflect.DeepEqual(got, []xlator.Pattern{{Glob: "*.conf", Value: 3}, {Glob: "z", Value: 2}, {Glob: "*", Value: 1}}) {
		t.Errorf("priority %v", got)
	}
	k, _ := s.Volume("k")
	ko := k.Options
	if ko.String("s") != "fallback" || !ko.Bool("b") || ko.Int("i") != 7 || ko.Size("sz") != 2<<30 ||
		ko.Duration("d") != 90*time.Second || ko.String("e") != "green" || ko.String("p") != "relative/path" {
		t.Errorf("kinds options wrong")
	}
	if v := opt(t, s, "k", "sm"); v.Kind != xlator.KindSizeMap || len(v.Order) != 0 || v.Map == nil {
		t.Errorf("empty size map %+v", v)
	}
	if got := ko.Patterns("im"); !reflect.DeepEqual(got, []xlator.Pattern{{Glob: "b*", Value: 2}, {Glob: "a*", Value: 1}}) {
		t.Errorf("im %v", got)
	}
	yes := true
	wantMount := &Mount{Path: "./xstack-mnt", EntryTimeout: 2 * time.Second, AttrTimeout: time.Second,
		MaxWrite: 128 << 10, ReadAhead: 512 << 10, DefaultPermissions: true, AllowOther: &yes, InodeLRULimit: 1000, Transport: "io-uring", FSName: "test", Pos: "testdata/good/full.hcl:59:1"}
	if !reflect.DeepEqual(f.Mount, wantMount) {
		t.Errorf("mount %+v\nwant  %+v", f.Mount, wantMount)
	}
	if !reflect.DeepEqual(f.Statedump, &Statedump{Path: "/tmp"}) {
		t.Errorf("statedump %+v", f.Statedump)
	}
	if want := (&Metrics{Address: "127.0.0.1:9464", Pos: "testdata/good/full.hcl:73:1"}); !reflect.DeepEqual(f.Metrics, want) {
		t.Errorf("metrics %+v, want %+v", f.Metrics, want)
	}
}

// TestEveryOptionPresent checks the Options contract: every option of the
// schema has a value after loading, given or not.
func TestEveryOptionPresent(t *testing.T) {
	f, _ := mustLoad(t, "testdata/good/minimal.hcl", nil)
	reg := testRegistry()
	for _, v := range f.Spec.Volumes {
		typ, _ := reg.Lookup(v.Type)
		for _, o := range typ.Options {
			if !v.Options.Has(o.Name) {
				t.Errorf("%s: option %q missing", v.Name, o.Name)
			}
		}
	}
	if f.Mount != nil || f.Statedump != nil || f.Metrics != nil {
		t.Errorf("mount %v statedump %v metrics %v without blocks", f.Mount, f.Statedump, f.Metrics)
	}
	if f.Spec.Top != "only" {
		t.Errorf("top %q", f.Spec.Top)
	}
}

func TestInferredTopDAG(t *testing.T) {
	f, _ := mustLoad(t, "testdata/good/dag.hcl", nil)
	if f.Spec.Top != "root" || len(f.Spec.Volumes) != 5 {
		t.Errorf("top %q volumes %v", f.Spec.Top, names(f.Spec.Volumes))
	}
}

func TestUnusedVolumeWarning(t *testing.T) {
	f, diags := mustLoad(t, "testdata/good/unused.hcl", nil)
	if got := names(f.Spec.Volumes); !reflect.DeepEqual(got, []string{"brick0", "cache"}) {
		t.Errorf("volumes %v: spare should be left out", got)
	}
	if diags == nil || len(diags.Diags) != 1 || diags.Diags[0].Severity != hcl.DiagWarning || diags.Err() != nil {
		t.Fatalf("want one warning, got %v", diags)
	}
	if !strings.Contains(diags.Error(), `testdata/good/unused.hcl:6:1: warning: Volume "spare" is not used`) {
		t.Errorf("Error() = %q", diags.Error())
	}
}

// TestSchemaFor: a type's own options and those SchemaFor declares are
// decoded in one block, and the latter are also kept as written.
func TestSchemaFor(t *testing.T) {
	f, diags := mustLoad(t, "testdata/good/plugin.hcl", nil)
	if diags != nil {
		t.Errorf("diagnostics for a known schema: %v", diags)
	}
	p, _ := f.Spec.Volume("p")
	if p.Options.String("binary") != "./xl-trace" || p.Options.Int("level") != 4 || !p.Options.IsSet("binary") {
		t.Errorf("plugin options: binary %q level %d", p.Options.String("binary"), p.Options.Int("level"))
	}
	want := []xlator.LiteralOption{{Name: "level", Value: xlator.Literal{Type: xlator.LitNumber, Text: "4"}, Pos: "testdata/good/plugin.hcl:6:3"}}
	if !reflect.DeepEqual(p.Literals, want) {
		t.Errorf("Literals = %+v, want %+v", p.Literals, want)
	}
}

// TestSchemaUnknown: when SchemaFor cannot know the schema before the
// volume starts, the type's own options are still checked, the others
// are kept as written (object entries in the order written) with their
// positions, and one warning on the volume names them and the reason.
func TestSchemaUnknown(t *testing.T) {
	const path = "testdata/good/plugin-unpublished.hcl"
	f, diags := mustLoad(t, path, nil)
	p, _ := f.Spec.Volume("p")
	if p.Options.String("binary") != "unpublished" || p.Options.Has("level") || p.Options.Has("sizes") {
		t.Errorf("options %v: want binary alone", p.Options.Names())
	}
	want := []xlator.LiteralOption{
		{Name: "level", Value: xlator.Literal{Type: xlator.LitNumber, Text: "4"}, Pos: path + ":7:3"},
		{Name: "sizes", Pos: path + ":8:3", Value: xlator.Literal{Type: xlator.LitObject, Keys: []string{"*.iso", "*"},
			Elems: []xlator.Literal{{Type: xlator.LitString, Text: "1MiB"}, {Type: xlator.LitNumber, Text: "4096"}}}},
	}
	if !reflect.DeepEqual(p.Literals, want) {
		t.Errorf("Literals = %+v\nwant %+v", p.Literals, want)
	}
	if diags == nil || len(diags.Diags) != 1 || diags.Diags[0].Severity != hcl.DiagWarning {
		t.Fatalf("want one warning, got %v", diags)
	}
	for _, w := range []string{path + ":4:1: warning: Options of volume \"p\" not checked",
		`"unpublished" publishes no schema`, `("level" and "sizes") are checked when the volume starts`} {
		if !strings.Contains(diags.Error(), w) {
			t.Errorf("warning lacks %q:\n%s", w, diags.Error())
		}
	}

	// The type's own options are checked as ever; the others' evaluation
	// errors are reported once; with no other options the warning says so.
	for _, tc := range []struct{ name, src, want string }{
		{"own option", `volume "p" {
  type   = "plugin"
  binary = 7
  level  = 4
}`, `x.hcl:3:12: Wrong type for option "binary"`},
		{"variable", `volume "p" {
  type   = "plugin"
  binary = "unpublished"
  level  = var.nope
}`, `x.hcl:4:12: Undeclared variable "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := Parse([]byte(tc.src), "x.hcl", testRegistry(), nil)
			if !diags.HasErrors() || strings.Count(diags.Error(), tc.want) != 1 {
				t.Errorf("diagnostics %v, want %q once", diags, tc.want)
			}
		})
	}
	_, diags = Parse([]byte("volume \"p\" {\n  type   = \"plugin\"\n  binary = \"unpublished\"\n}\n"), "x.hcl", testRegistry(), nil)
	if diags.HasErrors() || !strings.Contains(diags.Error(), "(none given here)") {
		t.Errorf("diagnostics %v", diags)
	}
}

// TestTreeAndDot renders every good volfile both ways against goldens.
func TestTreeAndDot(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.hcl")
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, _ := mustLoad(t, path, nil)
			var tree, dot bytes.Buffer
			if err := WriteTree(&tree, f.Spec); err != nil {
				t.Fatal(err)
			}
			if err := WriteDot(&dot, f.Spec); err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(path, ".hcl")
			checkGolden(t, base+".tree", tree.Bytes())
			checkGolden(t, base+".dot", dot.Bytes())
		})
	}
}

func TestVars(t *testing.T) {
	src := []byte(`
variable "dir" {}
variable "lvl" { default = "info" }
volume "b" {
  type      = "posix"
  directory = var.dir
  log-level = var.lvl
}
`)
	f, diags := Parse(src, "v.hcl", testRegistry(), map[string]string{"dir": "/d", "lvl": "error"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, _ := f.Spec.Volume("b")
	if b.Options.String("directory") != "/d" || b.LogLevel != zapcore.ErrorLevel {
		t.Errorf("directory %q level %v", b.Options.String("directory"), b.LogLevel)
	}
	// Without a value for dir: one error at the variable, none at its use.
	_, diags = Parse(src, "v.hcl", testRegistry(), nil)
	if !diags.HasErrors() || len(diags.Diags) != 1 {
		t.Errorf("want exactly one error, got %v", diags)
	}
}

func TestDiagnosticsNil(t *testing.T) {
	var d *Diagnostics
	if d.HasErrors() || d.Err() != nil || d.Write(&bytes.Buffer{}, true, 80) != nil || d.Error() == "" {
		t.Errorf("nil Diagnostics misbehaves")
	}
	_, diags := Parse([]byte(`volume "a" { type = "posx" }`), "x.hcl", testRegistry(), nil)
	var err error = diags.Err()
	if err == nil || !strings.HasPrefix(err.Error(), `x.hcl:1:21: Unknown volume type "posx"; `) {
		t.Errorf("Err() = %v", err)
	}
	var col bytes.Buffer
	diags.Write(&col, true, 0)
	if !strings.Contains(col.String(), "\x1b[1;31mError\x1b[0m") {
		t.Errorf("no color: %q", col.String())
	}
}

func TestLoadMissing(t *testing.T) {
	f, diags := Load("testdata/no-such-file.hcl", testRegistry(), nil)
	if f != nil || !diags.HasErrors() || !strings.Contains(diags.Error(), "no such file") {
		t.Errorf("Load of a missing file: %v %v", f, diags)
	}
}

// TestTabsUnderline checks that carets line up under a tab-indented line.
func TestTabsUnderline(t *testing.T) {
	_, diags := Parse([]byte("volume \"a\" {\n\ttype = \"posx\"\n}\n"), "t.hcl", testRegistry(), nil)
	var b bytes.Buffer
	diags.Write(&b, false, 0)
	if !strings.Contains(b.String(), "     2: \ttype = \"posx\"\n        \t       ^^^^^^\n") {
		t.Errorf("underline:\n%s", b.String())
	}
}

// TestVolfiles parses every shipped example against fake types that
// declare the option names of the real posix, stripe and cache.
func TestVolfiles(t *testing.T) {
	files, _ := filepath.Glob("../volfiles/*.hcl")
	if len(files) == 0 {
		t.Fatal("no volfiles")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, diags := mustLoad(t, path, nil)
			if diags != nil {
				t.Errorf("diagnostics: %v", diags)
			}
			if f.Mount == nil {
				t.Errorf("no mount block")
			}
		})
	}
	src, err := os.ReadFile("../volfiles/default.hcl")
	if err != nil {
		t.Fatal(err)
	}
	f, diags := Parse(src, "<embedded>", testRegistry(), map[string]string{"data": "/d"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if f.Spec.Top != "cache" || f.Mount.Path != "./_xstack/mnt" || f.Spec.Volumes[0].Options.String("directory") != "/d/brick0" {
		t.Errorf("default volfile: top %q mount %q", f.Spec.Top, f.Mount.Path)
	}
	// The default leaves allow-other to the mounter: open to all as root.
	if f.Mount.AllowOther != nil {
		t.Errorf("default volfile: allow-other %v, want it unset", *f.Mount.AllowOther)
	}
}

// TestMountAllowOther: allow-other is nil when the mount block does not
// say, and what it says otherwise.
func TestMountAllowOther(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string
	}{{"", "<nil>"}, {"allow-other = false", "false"}, {"allow-other = true", "true"}} {
		src := "volume \"b\" {\n  type = \"posix\"\n  directory = \"/d\"\n}\nmount {\n  path = \"/m\"\n  " + tc.line + "\n}\n"
		f, diags := Parse([]byte(src), "t.hcl", testRegistry(), nil)
		if diags.HasErrors() {
			t.Fatalf("%q: %v", tc.line, diags)
		}
		got := "<nil>"
		if f.Mount.AllowOther != nil {
			got = fmt.Sprint(*f.Mount.AllowOther)
		}
		if got != tc.want {
			t.Errorf("mount block with %q: allow-other %s, want %s", tc.line, got, tc.want)
		}
	}
}

// TestMetricsAddress: the metrics block takes HOST:PORT as net.Listen
// does, and says what is wrong with anything else, at the value.
func TestMetricsAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		err  string // "" for valid
	}{
		{"127.0.0.1:9464", ""},
		{"localhost:9464", ""},
		{":9464", ""},
		{"[::1]:9464", ""},
		{"127.0.0.1:0", ""},
		{"9464", "missing port in address"},
		{"127.0.0.1:65536", `port "65536" is not a number from 0 to 65535`},
		{"127.0.0.1:prom", `port "prom" is not a number`},
		{"::1:9464", "too many colons in address"},
		{"/run/x.sock:1", `host "/run/x.sock" is not a host name`},
		{"", "missing port in address"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			src := fmt.Sprintf("volume \"b\" {\n  type = \"posix\"\n  directory = \"/srv/b\"\n}\nmetrics {\n  address = %q\n}\n", tc.addr)
			f, diags := Parse([]byte(src), "m.hcl", testRegistry(), nil)
			if tc.err == "" {
				if diags.HasErrors() || f.Metrics == nil || f.Metrics.Address != tc.addr || f.Metrics.Pos != "m.hcl:5:1" {
					t.Fatalf("rejected or lost: %v %+v", diags, f)
				}
				return
			}
			if !diags.HasErrors() {
				t.Fatalf("accepted")
			}
			d := diags.Diags[0]
			if d.Summary != "Invalid metrics address" || !strings.Contains(d.Detail, tc.err) ||
				d.Subject == nil || d.Subject.Start.Line != 6 || d.Subject.Start.Column != 13 {
				t.Errorf("diagnostic %s: %s at %v, want %q at 6:13", d.Summary, d.Detail, d.Subject, tc.err)
			}
		})
	}
}

// TestMemoryBlock: the memory block takes a size limit and a reap
// interval, with defaults, and refuses what is out of range at the value.
func TestMemoryBlock(t *testing.T) {
	for _, tc := range []struct {
		body     string
		limit    int64
		interval time.Duration
		err      string // a diagnostic's summary; "" for valid
	}{
		{"", 0, 2 * time.Second, ""},
		{`limit = "2GiB"`, 2 << 30, 2 * time.Second, ""},
		{`reap-interval = "500ms"`, 0, 500 * time.Millisecond, ""},
		{`limit = -1`, 0, 0, `Invalid value for option "limit"`},
		{`reap-interval = "1ms"`, 0, 0, `Option "reap-interval" out of range`},
		{`lmit = "1GiB"`, 0, 0, `Unknown option "lmit"`},
	} {
		t.Run(tc.body, func(t *testing.T) {
			src := fmt.Sprintf("volume \"b\" {\n  type = \"posix\"\n  directory = \"/srv/b\"\n}\nmemory {\n  %s\n}\n", tc.body)
			f, diags := Parse([]byte(src), "m.hcl", testRegistry(), nil)
			if tc.err == "" {
				if diags.HasErrors() || f.Memory == nil {
					t.Fatalf("rejected or lost: %v %+v", diags, f)
				}
				want := &Memory{Limit: tc.limit, ReapInterval: tc.interval, Pos: "m.hcl:5:1"}
				if !reflect.DeepEqual(f.Memory, want) {
					t.Errorf("memory %+v, want %+v", f.Memory, want)
				}
				return
			}
			if !diags.HasErrors() {
				t.Fatalf("accepted")
			}
			if d := diags.Diags[0]; d.Summary != tc.err || d.Subject == nil || d.Subject.Start.Line != 6 {
				t.Errorf("diagnostic %q: %s at %v, want %q on line 6", d.Summary, d.Detail, d.Subject, tc.err)
			}
		})
	}
}
