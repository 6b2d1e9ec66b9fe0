package fuse

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// requireFuse skips a test on a machine where FUSE cannot be used at all.
func requireFuse(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		tb.Skipf("skipping: FUSE is not available here (/dev/fuse: %v)", err)
	}
	if err := Available(); err != nil {
		tb.Skipf("skipping: %v", err)
	}
}

// mounted is a graph of test translators mounted at a fresh directory.
type mounted struct {
	g   *xlator.Graph
	srv *Server
	dir string
}

// mountChain starts a chain of test translators and mounts it with
// allow_other (so that a non-root helper can reach the mount and be judged
// by default_permissions alone). The mount is undone when the test ends,
// whether it passed or not.
func mountChain(tb testing.TB, types ...string) *mounted {
	tb.Helper()
	return mountWith(tb, xlatortest.Registry(), nil, types...)
}

// mountWith is mountChain with translator types from reg and the
// configuration changed by edit (if not nil).
func mountWith(tb testing.TB, reg *xlator.Registry, edit func(*Config), types ...string) *mounted {
	tb.Helper()
	return mountSpec(tb, xlatortest.Chain(types...), reg, edit)
}

// mountSpec is mountWith for a graph spec of the test's own.
func mountSpec(tb testing.TB, spec *xlator.Spec, reg *xlator.Registry, edit func(*Config)) *mounted {
	tb.Helper()
	requireFuse(tb)
	g := xlatortest.Start(tb, spec, reg, nil)
	dir := tb.TempDir()
	// t.TempDir's parent is 0700: let other users traverse to the mount.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		tb.Fatal(err)
	}
	cfg := DefaultConfig(dir)
	cfg.AllowOther = true
	if _, ok := tb.(*testing.B); ok {
		cfg.Logger = zap.NewNop()
	} else {
		cfg.Logger = zaptest.NewLogger(tb, zaptest.Level(zap.WarnLevel))
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := Mount(g, cfg)
	if err != nil {
		tb.Fatalf("mount: %v", err)
	}
	tb.Cleanup(func() { forceUnmount(tb, srv, dir) })
	return &mounted{g: g, srv: srv, dir: dir}
}

// forceUnmount unmounts, retrying while files are still being closed, and
// detaches the mount lazily as the last resort so a failed test never
// leaves a mount behind.
func forceUnmount(tb testing.TB, srv *Server, dir string) {
	var err error
	for i := 0; i < 50; i++ {
		if err = srv.Unmount(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Errorf("unmount %s: %v; detaching", dir, err)
	if derr := syscall.Unmount(dir, syscall.MNT_DETACH); derr != nil {
		tb.Errorf("detach %s: %v", dir, derr)
	}
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		tb.Errorf("server of %s did not stop", dir)
	}
}

func (m *mounted) path(name string) string { return filepath.Join(m.dir, name) }

// eventually polls cond for up to 5 seconds: the kernel sends RELEASE and
// FORGET asynchronously after close(2).
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
