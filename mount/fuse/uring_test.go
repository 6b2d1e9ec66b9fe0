package fuse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator/xlatortest"
)

// setEnableURing sets the fuse module's enable_uring parameter to v for
// the test and puts the old value back when it ends. It holds an
// exclusive flock on the parameter meanwhile, so that tests of other
// packages (e2e) that set it do not put it back under this one. It skips
// the test where the kernel has no FUSE over io_uring or the caller is
// not root.
func setEnableURing(t testing.TB, v string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: FUSE over io_uring serves root mounts only (xstack's own loop)")
	}
	f, err := os.OpenFile(enableURingParam, os.O_RDWR, 0)
	if err != nil {
		t.Skipf("skipping: this kernel has no FUSE over io_uring: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("flock %s: %v", enableURingParam, err)
	}
	old, err := os.ReadFile(enableURingParam)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(enableURingParam, old, 0); err != nil {
			t.Errorf("restoring %s to %s: %v", enableURingParam, strings.TrimSpace(string(old)), err)
		}
		f.Close() // drops the flock
	})
	if err := os.WriteFile(enableURingParam, []byte(v), 0); err != nil {
		t.Fatalf("setting %s to %s: %v", enableURingParam, v, err)
	}
}

// mountRing mounts types over the io-uring transport, with enable_uring
// set for the test, and checks that the rings serve it.
func mountRing(t *testing.T, types ...string) *mounted {
	t.Helper()
	setEnableURing(t, "Y")
	m := mountWith(t, xlatortest.Registry(), func(c *Config) { c.Transport = TransportIOUring }, types...)
	if st := m.srv.Stats(); st.Transport != TransportIOUring || st.Ring == nil {
		t.Fatalf("asked for io-uring, served by %q (%s)", st.Transport, st.TransportNote)
	}
	return m
}

func TestRingSmoke(t *testing.T) {
	m := mountRing(t, "mem")
	p := filepath.Join(m.dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q %v", b, err)
	}
	t.Logf("%+v", *m.srv.Stats().Ring)
	t.Logf("%+v", *m.srv.Stats().Loop)
}
