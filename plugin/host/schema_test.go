package host_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/examples/plugins/checksum/checksum"
	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// copyBin copies the plugin binary bin into a directory of the test's own,
// so what the test publishes beside it is seen by no other test.
func copyBin(tb testing.TB, bin string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), filepath.Base(bin))
	in, err := os.Open(bin)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// publish runs the trusted binary bin with plugin.SchemaFlag, as the
// README tells a plugin's author to, writing its schema file beside it.
func publish(tb testing.TB, bin string) {
	tb.Helper()
	out, err := exec.Command(bin, plugin.SchemaFlag).Output()
	if err != nil {
		tb.Fatalf("%s %s: %v", bin, plugin.SchemaFlag, err)
	}
	if err := os.WriteFile(host.SchemaFile(bin), out, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func sha256Of(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestPublishSchema: a plugin binary run with SchemaFlag prints the schema
// of the type it serves and the sha256 of the binary itself, and exits 0;
// ReadSchema reads back the very type, running nothing.
func TestPublishSchema(t *testing.T) {
	for _, tc := range []struct {
		bin  string
		want xlator.Type
	}{
		{checksumBin(t), checksum.Type},
		{passthroughBin(t), xlator.Type{Name: "passthrough", Doc: "passes every fop to its child", MinChildren: 1, MaxChildren: 1}},
	} {
		t.Run(tc.want.Name, func(t *testing.T) {
			bin := copyBin(t, tc.bin)
			publish(t, bin)
			var doc map[string]any
			b, _ := os.ReadFile(host.SchemaFile(bin))
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("schema file: %v\n%s", err, b)
			}
			if doc["binary-sha256"] != sha256Of(t, bin) || doc["format"] != "xstack-plugin-schema/1" {
				t.Errorf("schema file names binary %v (format %v), want %s", doc["binary-sha256"], doc["format"], sha256Of(t, bin))
			}
			got, err := host.ReadSchema(bin)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.New = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ReadSchema = %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestSchemaDiagnostics: a plugin volume's options are checked against
// the schema its binary publishes, with the same file:line:col
// diagnostics as a built-in type's.
func TestSchemaDiagnostics(t *testing.T) {
	bin := copyBin(t, checksumBin(t))
	publish(t, bin)
	reg := registry(nil)
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"unknown option", `blok-size = "8KiB"`,
			[]string{`test.hcl:9:3`, `Unknown option "blok-size"`, `Did you mean "block-size"?`}},
		{"out of range", `block-size = "4MiB"`,
			[]string{`test.hcl:9:16`, `block-size`, `out of range [512B, 1MiB]`}},
		{"wrong kind", `block-size = ["4KiB"]`, []string{`test.hcl:9:16`, `block-size`, `takes a size`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(checksumVolfile(bin, tc.extra), `  block-size = "4KiB"`+"\n", "", 1)
			_, diags := volfile.Parse([]byte(src), "test.hcl", reg, nil)
			err := diags.Err()
			if err == nil {
				t.Fatalf("no diagnostic for\n%s", src)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("diagnostic lacks %q:\n%s", w, msg)
				}
			}
		})
	}

	// A good volfile decodes the plugin's options with their kinds, and
	// says nothing.
	f, diags := volfile.Parse([]byte(checksumVolfile(bin, "")), "test.hcl", reg, nil)
	if diags != nil {
		t.Fatal(diags)
	}
	vs, _ := f.Spec.Volume("cks")
	if got := vs.Options.Size("block-size"); got != 4096 {
		t.Errorf("block-size = %d", got)
	}
	if got := vs.Options.String("table-dir"); got != ".xstack-checksum" {
		t.Errorf("table-dir default = %q", got)
	}

	// A binary that is not there is named in the diagnostic.
	_, diags = volfile.Parse([]byte(checksumVolfile("/nonexistent/plugin", "")), "test.hcl", reg, nil)
	if err := diags.Err(); err == nil || !strings.Contains(err.Error(), "/nonexistent/plugin") {
		t.Errorf("missing binary: %v", err)
	}
}

// TestLoadRunsNothing: loading a volfile whose plugin path is a script
// runs nothing, whether the script publishes a schema or not. Without one
// the volume gets a warning naming the options left unchecked and how to
// publish the schema, and the host's own options are checked as ever;
// with one, its options are checked as usual. A path naming a FIFO, a
// device, a directory or a file too large to be a plugin is an error at
// once.
func TestLoadRunsNothing(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := filepath.Join(dir, "evil")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := hcl(`
volume "brick" {
  type = "mem"
}

volume "evil" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
  level      = 3
}
`, script)
	reg := registry(nil)
	f, diags := volfile.Parse([]byte(src), "test.hcl", reg, nil)
	if f == nil || diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	for _, w := range []string{`test.hcl:5:1: warning: Options of volume "evil" not checked`,
		script + " publishes no schema", script + " -xstack-schema > " + script + ".schema.json", `("level")`} {
		if !strings.Contains(diags.Error(), w) {
			t.Errorf("warning lacks %q:\n%s", w, diags.Error())
		}
	}

	// The host's own options are checked all the same.
	_, diags = volfile.Parse([]byte(strings.Replace(src, "level", `restart-backoff = "soon"`+"\n  level", 1)), "test.hcl", reg, nil)
	if err := diags.Err(); err == nil || !strings.Contains(err.Error(), `test.hcl:9:21: Invalid value for option "restart-backoff"`) {
		t.Errorf("a bad host option: %v", diags)
	}

	// A schema published for the script (its sha256) is used, and the
	// script still does not run.
	schema := `{"format": "xstack-plugin-schema/1", "binary-sha256": "` + sha256Of(t, script) + `", "name": "evil",
  "min-children": 1, "max-children": 1, "options": [{"name": "level", "kind": "int", "min": 1, "max": 2}]}`
	if err := os.WriteFile(host.SchemaFile(script), []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags = volfile.Parse([]byte(src), "test.hcl", reg, nil)
	if err := diags.Err(); err == nil || !strings.Contains(err.Error(), `test.hcl:9:16: Option "level" out of range`) {
		t.Errorf("with a published schema: %v", diags)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("loading the volfile ran the script (%v)", err)
	}

	// Whatever the path names, loading returns at once with an error: it
	// does not wait for a FIFO's writer or read a device to its end.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge") // sparse
	if err := os.WriteFile(huge, nil, 0o755); err != nil || os.Truncate(huge, 1<<30+1) != nil {
		t.Fatal("cannot make a sparse file")
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, fifo + " is a named pipe, not a plugin binary"},
		{"/dev/zero", "/dev/zero is a device, not a plugin binary"},
		{dir, dir + " is a directory, not a plugin binary"},
		{huge, huge + " is larger than any plugin binary (1GiB)"},
	} {
		done := make(chan *volfile.Diagnostics, 1)
		go func() {
			_, diags := volfile.Parse([]byte(strings.Replace(src, script, tc.path, 1)), "test.hcl", reg, nil)
			done <- diags
		}()
		select {
		case diags := <-done:
			if err := diags.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("path %s: %v, want %q", tc.path, diags, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("loading a volfile whose plugin is %s does not return", tc.path)
		}
	}
}

// TestOptionsCheckedAtStart: without a published schema, a plugin
// volume's options are checked when it starts, against the schema the
// running binary declares, and a bad one fails the start with the volume,
// the option and its file:line:col; good ones reach the plugin.
func TestOptionsCheckedAtStart(t *testing.T) {
	bin := copyBin(t, checksumBin(t)) // publishes nothing
	reg := registry(nil)
	start := func(src string) (*stack.Stack, error) {
		f, diags := volfile.Parse([]byte(src), "test.hcl", reg, nil)
		if diags.HasErrors() || !strings.Contains(diags.Error(), `Options of volume "cks" not checked`) {
			t.Fatalf("load: %v", diags)
		}
		st, err := stack.Start(f, "test.hcl", stack.Options{Registry: reg, StartTimeout: 20 * time.Second})
		if err == nil {
			t.Cleanup(func() { st.Close() })
		}
		return st, err
	}
	for _, tc := range []struct{ name, option, want string }{
		{"unknown option", `blok-size = "8KiB"`, `test.hcl:9:3: option "blok-size": the plugin has no such option; it takes "block-size", "table-dir"`},
		{"out of range", `block-size = "4MiB"`, `test.hcl:9:3: option "block-size": 4MiB is out of range [512B, 1MiB]`},
		{"wrong kind", `block-size = ["4KiB"]`, `test.hcl:9:3: option "block-size" takes a size: a number of bytes, or a string with a unit such as "128KiB" or "1MiB"; this is a list`},
		{"bool for a string", `table-dir = true`, ``}, // "true", as the loader would decode it
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(checksumVolfile(bin, tc.option), `  block-size = "4KiB"`+"\n", "", 1)
			_, err := start(src)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("started")
			}
			t.Logf("refused: %v", err)
			for _, w := range []string{`volume "cks"`, "plugin " + bin, tc.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}

	st, err := start(checksumVolfile(bin, `table-dir = ".sums"`))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := xlator.Unwrap(st.Graph.Xlator("cks")).(*host.Plugin)
	got := map[string]any{}
	for _, kv := range h.Dump() {
		got[kv.Key] = kv.Value
	}
	if got["plugin.xlator.block-size"] != "4096" || got["plugin.xlator.table-dir"] != ".sums" {
		t.Errorf("the plugin has block-size %v, table-dir %v; want 4096, .sums", got["plugin.xlator.block-size"], got["plugin.xlator.table-dir"])
	}
}

// TestSchemaMismatch: a schema published for the very binary (its
// sha256) that says something else than the running binary fails the
// start, naming the differences; a schema published by another binary is
// not used at load (a warning) and is no reason to refuse the start.
func TestSchemaMismatch(t *testing.T) {
	bin := copyBin(t, checksumBin(t))
	publish(t, bin)
	reg := registry(nil)
	b, err := os.ReadFile(host.SchemaFile(bin))
	if err != nil {
		t.Fatal(err)
	}
	// Edited: block-size up to 2 MiB, and no table-dir.
	edited := strings.Replace(string(b), `"max": 1048576`, `"max": 2097152`, 1)
	var doc map[string]any
	json.Unmarshal([]byte(edited), &doc)
	doc["options"] = doc["options"].([]any)[:1]
	out, _ := json.Marshal(doc)
	if err := os.WriteFile(host.SchemaFile(bin), out, 0o644); err != nil {
		t.Fatal(err)
	}
	f, diags := volfile.Parse([]byte(checksumVolfile(bin, "")), "test.hcl", reg, nil)
	if diags != nil {
		t.Fatalf("load: %v", diags)
	}
	_, err = stack.Start(f, "test.hcl", stack.Options{Registry: reg, StartTimeout: 20 * time.Second})
	if err == nil {
		t.Fatal("started with a published schema the binary contradicts")
	}
	for _, w := range []string{`volume "cks"`, "is not the one it declares",
		`option "block-size": published size, default "64KiB", 512B to 2MiB, the plugin declares size, default "64KiB", 512B to 1MiB`,
		`option "table-dir": not published, the plugin declares it`, bin + " -xstack-schema > " + host.SchemaFile(bin)} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}

	// The passthrough binary where the checksum one was: the schema names
	// the checksum binary's sha256, so it is stale.
	pass := copyBin(t, passthroughBin(t))
	if err := os.Rename(pass, bin); err != nil {
		t.Fatal(err)
	}
	publishedFor := sha256Of(t, checksumBin(t))
	if err := os.WriteFile(host.SchemaFile(bin), b, 0o644); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(checksumVolfile(bin, ""), `  block-size = "4KiB"`+"\n", "", 1)
	f, diags = volfile.Parse([]byte(src), "test.hcl", reg, nil)
	if diags.HasErrors() || f == nil {
		t.Fatalf("load: %v", diags)
	}
	if w := "was published by a binary with sha256 " + publishedFor; !strings.Contains(diags.Error(), w) {
		t.Errorf("warning lacks %q:\n%v", w, diags)
	}
	st, err := stack.Start(f, "test.hcl", stack.Options{Registry: reg, StartTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestChecksumRefused: a binary whose sha256 does not match the volfile's
// is refused at load time (by reading it, not running it) and at start
// (Init), with both sums in the message; the right sum is accepted.
func TestChecksumRefused(t *testing.T) {
	bin := checksumBin(t)
	good := sha256Of(t, bin)
	bad := strings.Repeat("ab", 32)
	reg := registry(nil)

	_, diags := volfile.Parse([]byte(checksumVolfile(bin, `sha256 = "`+bad+`"`)), "test.hcl", reg, nil)
	err := diags.Err()
	if err == nil {
		t.Fatal("a wrong sha256 was accepted")
	}
	for _, w := range []string{"test.hcl:5:1", "does not match its sha256", good, bad} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("diagnostic lacks %q:\n%v", w, err)
		}
	}
	_, diags = volfile.Parse([]byte(checksumVolfile(bin, `sha256 = "abc"`)), "test.hcl", reg, nil)
	if err := diags.Err(); err == nil || !strings.Contains(err.Error(), `sha256 "abc" is not 64 hex digits`) {
		t.Errorf("a malformed sha256: %v", err)
	}

	// At Init (a graph built from a Spec, bypassing the volfile check).
	spec := xlatortest.Chain("plugin", "mem")
	o := xlator.NewOptions()
	o.Set("path", xlator.Value{Kind: xlator.KindPath, Str: bin}, true)
	o.Set("sha256", xlator.Value{Kind: xlator.KindString, Str: bad}, true)
	spec.Volumes[0].Options = o
	g, err := xlator.New(spec, reg, xlatortest.NewEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	err = g.Init()
	if !errors.Is(err, host.ErrChecksum) {
		t.Fatalf("Init: %v, want ErrChecksum", err)
	}
	t.Logf("refused: %v", err)

	v := open(t, checksumVolfile(bin, `sha256 = "`+strings.ToUpper(good)+`"`), reg, nil)
	if _, err := v.Stat("/"); err != nil {
		t.Fatal(err)
	}
}
