package stack

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLoadWarnings: Load returns a volfile's warnings with the File, and
// LoadFile logs each one with its position.
func TestLoadWarnings(t *testing.T) {
	path := writeVolfile(t, `volume "b0" {
  type      = "posix"
  directory = "/nonexistent/b0"
}
volume "spare" {
  type      = "posix"
  directory = "/nonexistent/spare"
}
top = "b0"
`)
	f, diags := Load(path, Options{})
	if f == nil || diags.HasErrors() || diags == nil || len(diags.Diags) != 1 {
		t.Fatalf("Load: %v, %v; want the File and one warning", f, diags)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	if _, err := LoadFile(path, Options{Logger: zap.New(core)}); err != nil {
		t.Fatal(err)
	}
	all := logs.All()
	if len(all) != 1 || !strings.Contains(all[0].Message, `Volume "spare" is not used`) ||
		all[0].ContextMap()["at"] != path+":5:1" {
		t.Errorf("logged %+v", all)
	}
}
