package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/locks"
	"github.com/xstack/xstack/xlators/posix"
)

// binDir holds the plugin binaries the tests build, once per test run.
var (
	binDir  string
	binMu   sync.Mutex
	binPath = map[string]string{}
	// buildFlags are passed to go build for the plugin binaries.
	buildFlags []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xstack-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the plugin main package pkg (relative to the module
// root) and returns the binary's path.
func build(tb testing.TB, pkg string) string {
	tb.Helper()
	return buildAs(tb, pkg, filepath.Base(pkg))
}

// buildAs compiles pkg with the extra go build flags into a binary
// called name, once per name, and returns its path.
func buildAs(tb testing.TB, pkg, name string, flags ...string) string {
	tb.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binPath[name]; ok {
		return p
	}
	out := filepath.Join(binDir, name)
	args := append(append(append([]string{"build"}, buildFlags...), flags...), "-o", out, "./"+pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	binPath[name] = out
	return out
}

func checksumBin(tb testing.TB) string    { return build(tb, "examples/plugins/checksum") }
func passthroughBin(tb testing.TB) string { return build(tb, "examples/plugins/passthrough") }
func memBin(tb testing.TB) string         { return build(tb, "plugin/internal/testplugin/mem") }

// registry holds the plugin type, the test types and posix.
func registry(log *xlatortest.Log) *xlator.Registry {
	r := xlatortest.Registry()
	host.Register(r)
	posix.Register(r)
	locks.Register(r)
	if log != nil {
		r.MustRegister(xlatortest.RecorderType(log, ""))
	}
	return r
}

// open parses src and starts its stack; it is closed when the test ends.
func open(tb testing.TB, src string, reg *xlator.Registry, log *zap.Logger) *api.Volume {
	tb.Helper()
	f, diags := volfile.Parse([]byte(src), "test.hcl", reg, nil)
	if err := diags.Err(); err != nil {
		tb.Fatalf("volfile: %v", err)
	}
	if log == nil {
		if _, ok := tb.(*testing.B); ok {
			log = zap.NewNop()
		} else {
			log = zaptest.NewLogger(tb, zaptest.Level(zap.WarnLevel))
		}
	}
	st, err := stack.Start(f, "test.hcl", stack.Options{Registry: reg, Logger: log, StartTimeout: 20 * time.Second})
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	v := api.FromStack(st)
	tb.Cleanup(func() { _ = v.Close() })
	return v
}

// hostOf returns the plugin translator of volume name.
func hostOf(tb testing.TB, v *api.Volume, name string) *host.Plugin {
	tb.Helper()
	h, ok := xlator.Unwrap(v.Stack().Graph.Xlator(name)).(*host.Plugin)
	if !ok {
		tb.Fatalf("volume %q is not a plugin", name)
	}
	return h
}

func errno(err error) syscall.Errno {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return e
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return 0
}

// waitFor polls cond until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call begins a call on v's graph.
func call(v *api.Volume, fop xlator.Fop) *xlator.Call {
	return v.Stack().Graph.Calls().Begin(context.Background(), fop, xlator.Creds{}, 0)
}

// lookup resolves a name in the root through x and links it.
func lookup(tb testing.TB, v *api.Volume, x xlator.Xlator, name string) *xlator.Inode {
	tb.Helper()
	g := v.Stack().Graph
	c := call(v, xlator.FopLookup)
	defer c.Done()
	in := g.Inodes().New()
	defer in.Unref()
	ia, err := x.Lookup(c, &xlator.Loc{Parent: g.Inodes().Root(), Name: name, Inode: in})
	if err != nil {
		tb.Fatalf("lookup %s: %v", name, err)
	}
	return g.Inodes().Link(in, g.Inodes().Root(), name, &ia)
}

func hcl(s string, args ...any) string { return strings.TrimSpace(fmt.Sprintf(s, args...)) + "\n" }
