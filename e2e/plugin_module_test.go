package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginInOwnModule builds the README's read-only plugin as a plugin
// author outside this repository would: in a module of its own that
// requires github.com/xstack/xstack (replaced by this checkout, with the
// module cache and no network), importing only the SDK's public
// packages. The binary publishes its schema, and a volfile one directory
// away names it by a path relative to the volfile, which validates.
func TestPluginInOwnModule(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mod := filepath.Join(dir, "readonly")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	goMod := "module example.com/readonly\n\ngo 1.26\n\nrequire github.com/xstack/xstack v0.0.0\n\nreplace github.com/xstack/xstack => " + repo + "\n"
	files := map[string]string{
		"go.mod": goMod,
		"main.go": `package main

import (
	"syscall"

	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

type readOnly struct{ xlator.Base }

func (r *readOnly) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	return 0, syscall.EROFS
}

func main() {
	plugin.Serve(xlator.Type{Name: "read-only", MinChildren: 1, MaxChildren: 1,
		Options: xlator.Schema{{Name: "reason", Kind: xlator.KindString}},
		New:     func() xlator.Xlator { return &readOnly{} }})
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "plugins", "read-only")
	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = mod
		// No network: the module cache holds what this checkout was built
		// with, and go.sum is the checkout's.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goCmd("build", "-o", bin, ".")
	schema, err := exec.Command(bin, "-xstack-schema").Output()
	if err != nil {
		t.Fatalf("%s -xstack-schema: %v", bin, err)
	}
	var s struct{ Name string }
	if err := json.Unmarshal(schema, &s); err != nil || s.Name != "read-only" {
		t.Fatalf("schema %q: %v", schema, err)
	}
	if err := os.WriteFile(bin+".schema.json", schema, 0o644); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(dir, "conf", "ro.hcl")
	if err := os.MkdirAll(filepath.Dir(vol), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vol, []byte(`volume "brick" {
  type      = "posix"
  directory = "`+filepath.Join(dir, "brick")+`"
}
volume "ro" {
  type       = "plugin"
  path       = "../plugins/read-only"
  subvolumes = ["brick"]
  reason     = "archive"
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// From another directory: the path is the volfile's, not the caller's.
	cmd := exec.Command(xstackBinary(t), "validate", "--strict", vol)
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
}
