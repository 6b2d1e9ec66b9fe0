package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/mount/fuse"
)

const enableURing = "/sys/module/fuse/parameters/enable_uring"

// setEnableURing sets the fuse module's enable_uring parameter to v for
// the test and puts the old value back when it ends, holding an
// exclusive flock on it meanwhile as mount/fuse's tests do, so that the
// two packages run side by side do not put it back under each other. It
// skips where the kernel has no FUSE over io_uring or the caller is not
// root.
func setEnableURing(t *testing.T, v string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: FUSE over io_uring serves root mounts only")
	}
	f, err := os.OpenFile(enableURing, os.O_RDWR, 0)
	if err != nil {
		t.Skipf("skipping: this kernel has no FUSE over io_uring: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("flock %s: %v", enableURing, err)
	}
	old, err := os.ReadFile(enableURing)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(enableURing, old, 0); err != nil {
			t.Errorf("restoring %s to %s: %v", enableURing, strings.TrimSpace(string(old)), err)
		}
		f.Close()
	})
	if err := os.WriteFile(enableURing, []byte(v), 0); err != nil {
		t.Fatalf("setting %s to %s: %v", enableURing, v, err)
	}
}

// mountRing mounts posix.hcl over FUSE over io_uring, and checks when the
// test ends that the rings carried its requests.
func mountRing(t *testing.T) *mounted {
	t.Helper()
	setEnableURing(t, "Y")
	m := mountFileWith(t, filepath.Join("..", "volfiles", "posix.hcl"), nil, func(c *fuse.Config) { c.Transport = fuse.TransportIOUring })
	if st := m.srv.Stats(); st.Transport != fuse.TransportIOUring {
		t.Fatalf("served by %s: %s", st.Transport, st.TransportNote)
	}
	t.Cleanup(func() {
		if st := m.srv.Stats(); st.Ring == nil || st.Ring.Requests < st.Requests/2 {
			t.Errorf("the rings carried %+v of %d requests", st.Ring, st.Requests)
		}
	})
	return m
}
