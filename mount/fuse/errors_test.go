package fuse

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// broken fails Statfs with an error that carries no errno: a translator
// bug the bridge must turn into EIO.
type broken struct{ xlator.Base }

func (*broken) Statfs(*xlator.Call, *xlator.Loc) (xlator.Statvfs, error) {
	return xlator.Statvfs{}, errors.New("broken: not an errno")
}

// TestErrorsReachTheCaller checks that a fop's errno reaches the syscall
// and that anything else becomes EIO.
func TestErrorsReachTheCaller(t *testing.T) {
	requireFuse(t)
	reg := xlatortest.Registry()
	reg.MustRegister(xlator.Type{Name: "broken", MinChildren: 1, MaxChildren: 1, New: func() xlator.Xlator { return &broken{} }})
	spec := xlatortest.Chain("broken", "fault", "mem")
	spec.Volumes[1].Options.Set("fops", xlator.Value{Kind: xlator.KindString, Str: "WRITE,FSYNC"}, true)
	spec.Volumes[1].Options.Set("errno", xlator.Value{Kind: xlator.KindInt, Int: int64(syscall.ENOSPC)}, true)
	g := xlatortest.Start(t, spec, reg, nil)
	dir := t.TempDir()
	cfg := DefaultConfig(dir)
	cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel+1)) // the EIO is logged at error level: expected here
	srv, err := Mount(g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { forceUnmount(t, srv, dir) })

	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("x")); errnoOf(err) != syscall.ENOSPC {
		t.Errorf("write: %v, want ENOSPC", err)
	}
	if err := f.Sync(); errnoOf(err) != syscall.ENOSPC {
		t.Errorf("fsync: %v, want ENOSPC", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != syscall.EIO {
		t.Errorf("statfs through a translator failing without an errno: %v, want EIO", err)
	}
	if s := srv.Stats(); s.Errors < 3 {
		t.Errorf("errors counted: %d", s.Errors)
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want syscall.Errno
	}{
		{"ok", 0},
		{strings.Repeat("a", 255), 0},
		{strings.Repeat("a", 256), syscall.ENAMETOOLONG},
		{"", syscall.EINVAL},
		{".", syscall.EINVAL},
		{"..", syscall.EINVAL},
		{"a/b", syscall.EINVAL},
		{"a\x00b", syscall.EINVAL},
		{"...", 0},
	} {
		if got := checkName(tc.name); syscall.Errno(got) != tc.want {
			t.Errorf("checkName(%.20q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/plain`:          "/mnt/plain",
		`/mnt/with\040space`:  "/mnt/with space",
		`/mnt/tab\011end`:     "/mnt/tab\tend",
		`/mnt/back\134slash`:  `/mnt/back\slash`,
		`/mnt/short\04`:       `/mnt/short\04`,
		`/mnt/notoctal\0999x`: `/mnt/notoctal\0999x`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnmountBusy refuses to unmount under an open file, then succeeds
// once it is closed, and leaves no fd behind.
func TestUnmountBusy(t *testing.T) {
	m := mountChain(t, "mem")
	f, err := os.Create(m.path("open"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.srv.Unmount(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("unmount with an open file: %v, want EBUSY", err)
	}
	f.Close()
	if !eventually(func() bool { return m.srv.Unmount() == nil }) {
		t.Fatal("unmount after close failed")
	}
	if err := m.srv.Unmount(); err != nil {
		t.Errorf("second unmount: %v", err)
	}
	m.srv.Wait()
	if fds := m.g.FDs(); fds.Open != 0 {
		t.Errorf("fds after unmount: %+v", fds)
	}
}
