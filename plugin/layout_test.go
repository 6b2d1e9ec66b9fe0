package plugin_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackageLayout holds the plugin tree to the package map in doc.go:
// the SDK and the host import rpc, transport and proto and never each
// other, rpc imports transport and proto, transport only proto. A reader
// can then take one package at a time.
func TestPackageLayout(t *testing.T) {
	const mod = "github.com/xstack/xstack/"
	allowed := map[string][]string{
		"plugin":                      {"plugin/internal/rpc", "plugin/internal/transport", "plugin/proto"},
		"plugin/host":                 {"plugin/internal/rpc", "plugin/internal/transport", "plugin/proto"},
		"plugin/internal/rpc":         {"plugin/internal/transport", "plugin/proto"},
		"plugin/internal/rpc/rpctest": {"plugin/internal/rpc", "plugin/internal/transport", "plugin/proto"},
		"plugin/internal/transport":   {"plugin/proto"},
		"plugin/proto":                nil,
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		ok, listed := allowed[pkg]
		if !listed {
			if !strings.HasPrefix(pkg, "plugin/internal/testplugin/") { // programs, not layers
				t.Errorf("%s is not in doc.go's package map", pkg)
			}
			continue
		}
		seen++
		for _, imp := range f[1:] {
			imp, inTree := strings.CutPrefix(imp, mod+"plugin")
			if inTree && !slices.Contains(ok, "plugin"+imp) {
				t.Errorf("%s imports %s; doc.go's map allows %v", pkg, "plugin"+imp, ok)
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("go list found %d of the %d packages of the map: update the map and doc.go", seen, len(allowed))
	}
}
