package volfiles_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfiles"
)

// goIgnores reports whether the go tool's ./... patterns skip the
// relative path p: some element of it begins with "." or "_" or is
// "testdata" (go help packages).
func goIgnores(p string) bool {
	for e := range strings.SplitSeq(filepath.Clean(p), string(filepath.Separator)) {
		if strings.HasPrefix(e, ".") && e != "." || strings.HasPrefix(e, "_") || e == "testdata" {
			return true
		}
	}
	return false
}

// TestDefaultDirsIgnoredByGo: the data and mount directories every shipped
// volfile defaults to, which `xstack run` creates under the current
// directory, are ones the go tool skips, so that running it at the root
// of a Go module (the README's first command) leaves `go vet ./...` and
// `go test ./...` working with Go files copied onto the mount and the
// bricks holding fragments of them. The property itself is checked with
// the go tool on a module holding broken Go files in both directories.
func TestDefaultDirsIgnoredByGo(t *testing.T) {
	names, err := filepath.Glob("*.hcl")
	if err != nil || !slices.Contains(names, volfiles.DefaultName) {
		t.Fatalf("volfiles %v, %v: want %s among them", names, err, volfiles.DefaultName)
	}
	var dirs []string
	for _, name := range names {
		f, diags := stack.Load(name, stack.Options{})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", name, diags.Err())
		}
		for _, d := range []string{f.Vars["data"], f.Mount.Path} {
			if filepath.IsAbs(d) || !goIgnores(d) {
				t.Errorf("%s: default directory %q is under the current directory and not skipped by the go tool: name it _… or .…", name, d)
			}
			dirs = append(dirs, d)
		}
	}

	mod := t.TempDir()
	write := func(p, src string) {
		t.Helper()
		p = filepath.Join(mod, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.26\n")
	write("m.go", "package m\n")
	for _, d := range dirs {
		write(filepath.Join(d, "frag.go"), "package frag\n\nfunc broken( {\n")
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go vet ./... in a module holding the default directories: %v\n%s", err, out)
	}
}
