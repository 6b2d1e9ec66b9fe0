package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRunsNothing: validate, graph and types of a volfile whose
// plugin path is a shell script that would touch a marker never run it.
// Without a published schema the plugin's options are a warning (an
// error under validate -strict); with a schema published for the script,
// they are checked with file:line:col, still without running it.
func TestValidateRunsNothing(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := filepath.Join(dir, "evil")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	volfile := func(level int) string {
		p := filepath.Join(dir, fmt.Sprintf("vol%d.hcl", level))
		src := fmt.Sprintf(`volume "brick" {
  type      = "posix"
  directory = %q
}

volume "evil" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
  level      = %d
}
`, filepath.Join(dir, "brick"), script, level)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vol := volfile(3)
	type check struct {
		args         []string
		code         int
		stdout, errs []string // what stdout and stderr must hold
	}
	warning := []string{`Warning: Options of volume "evil" not checked`, "on " + vol + ":6:1", script + " publishes no schema",
		script + " -xstack-schema > " + script + ".schema.json"}
	run := func(checks []check) {
		t.Helper()
		for _, c := range checks {
			code, out, errs := xstack(c.args...)
			if code != c.code {
				t.Errorf("xstack %s: exit %d, want %d\n%s%s", strings.Join(c.args, " "), code, c.code, out, errs)
			}
			for _, w := range c.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("xstack %s: stdout lacks %q:\n%s", strings.Join(c.args, " "), w, out)
				}
			}
			// Write wraps the detail at 100 columns.
			flat := strings.Join(strings.Fields(errs), " ")
			for _, w := range c.errs {
				if !strings.Contains(flat, w) {
					t.Errorf("xstack %s: stderr lacks %q:\n%s", strings.Join(c.args, " "), w, errs)
				}
			}
			if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("xstack %s ran the plugin's script (%v)", strings.Join(c.args, " "), err)
			}
		}
	}
	run([]check{
		{[]string{"validate", vol}, 0, []string{`ok: 2 volumes, top "evil", 1 warning`}, warning},
		{[]string{"validate", "-strict", vol}, 1, nil, append(warning, "1 warning, errors under -strict")},
		{[]string{"graph", vol}, 0, []string{"evil (plugin)", "level=3"}, warning},
		{[]string{"graph", "-format", "dot", vol}, 0, []string{`"evil" -> "brick"`}, warning},
		{[]string{"types", vol}, 0, []string{"cache-size", `volume "evil", plugin ` + script + " — options not known before it starts"}, warning},
	})

	// A schema published for the script: its options are checked.
	b, _ := os.ReadFile(script)
	sum := sha256.Sum256(b)
	schema := `{"format": "xstack-plugin-schema/1", "binary-sha256": "` + hex.EncodeToString(sum[:]) + `", "name": "evil", "doc": "does evil",
  "min-children": 1, "max-children": 1, "options": [{"name": "level", "kind": "int", "min": 1, "max": 2, "doc": "how evil"}]}`
	if err := os.WriteFile(script+".schema.json", []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	run([]check{
		{[]string{"validate", vol}, 1, nil, []string{`Error: Option "level" out of range`, "on " + vol + ":10:16", "3 is out of range [1, 2]"}},
		{[]string{"graph", vol}, 1, nil, []string{"on " + vol + ":10:16"}},
		{[]string{"validate", "-strict", volfile(2)}, 0, []string{`ok: 2 volumes, top "evil"` + "\n"}, nil},
		{[]string{"types", volfile(2)}, 0, []string{`volume "evil", plugin ` + script + ": evil — does evil", "level", "how evil"}, nil},
	})
}
