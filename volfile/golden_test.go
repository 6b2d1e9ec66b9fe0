package volfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// varsHeader reads variable values from a first line "# vars: a=1,b=2".
func varsHeader(src []byte) map[string]string {
	line, _, _ := bytes.Cut(src, []byte("\n"))
	rest, ok := strings.CutPrefix(string(line), "# vars:")
	if !ok {
		return nil
	}
	vars := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(rest), ",") {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return vars
}

// checkGolden compares got with the file golden, or rewrites it with -update.
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
}

// TestBad loads every testdata/bad/*.hcl and compares the rendered
// diagnostics with NAME.golden.
func TestBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.hcl")
	if len(files) < 18 {
		t.Fatalf("only %d bad volfiles", len(files))
	}
	reg := testRegistry()
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, diags := Parse(src, path, reg, varsHeader(src))
			if !diags.HasErrors() {
				t.Fatalf("no errors")
			}
			if f != nil {
				t.Errorf("File returned along with errors")
			}
			if diags.Err() == nil {
				t.Errorf("Err() is nil with errors")
			}
			for _, d := range diags.Diags {
				if d.Subject == nil && !strings.HasPrefix(d.Summary, "Unknown variable") {
					t.Errorf("diagnostic without a position: %s", d.Summary)
				}
			}
			var buf bytes.Buffer
			if err := diags.Write(&buf, false, 78); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".hcl")+".golden", buf.Bytes())
		})
	}
}
