package posix

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestDiscardBadRange: posix refuses a negative or empty range itself
// (the bio path once panicked on one), whether or not the graph is in
// front of it.
func TestDiscardBadRange(t *testing.T) {
	for _, path := range []string{"bio", "direct"} {
		t.Run(path, func(t *testing.T) {
			b := newBrick(t, map[string]string{"health-check-interval": "0", "data-path": path})
			_, fd := b.mustCreate(b.root(), "f")
			defer fd.Unref()
			b.mustWrite(fd, 0, pattern(8192, 1))
			c := b.call(xlator.FopDiscard)
			defer c.Done()
			errIs(t, "discard of a negative length, posix itself", b.px.Discard(c, fd, 0, -4096), syscall.EINVAL)
			errIs(t, "discard of a negative offset, posix itself", b.px.Discard(c, fd, -1, 4096), syscall.EINVAL)
			errIs(t, "discard of a negative length, through the graph", b.top().Discard(c, fd, 0, -4096), syscall.EINVAL)
			equal(t, "data after refused discards", b.mustRead(fd, 0, 8192), pattern(8192, 1))
		})
	}
}

// TestRepeatWrite: zerofill's fallback writer continues short writes and
// retries EINTR, but a write that makes no progress ends with EIO instead
// of looping forever.
func TestRepeatWrite(t *testing.T) {
	chunk := make([]byte, 4096)
	var got []int64
	calls := 0
	short := func(b []byte, off int64) (int, error) {
		calls++
		if calls == 2 {
			return 0, syscall.EINTR
		}
		n := min(len(b), 1000)
		got = append(got, off, int64(n))
		return n, nil
	}
	if err := repeatWrite(short, chunk, 100, 2500); err != nil {
		t.Fatal(err)
	}
	if want := []int64{100, 1000, 1100, 1000, 2100, 500}; len(got) != len(want) || got[4] != 2100 || got[5] != 500 {
		t.Fatalf("writes (off, n): %v, want %v", got, want)
	}
	stuck := func(b []byte, off int64) (int, error) {
		calls++
		if calls > 1000 {
			t.Fatal("still writing after 1000 writes that made no progress")
		}
		return 0, nil
	}
	calls = 0
	errIs(t, "a write that makes no progress", repeatWrite(stuck, chunk, 0, 4096), syscall.EIO)
}

// loopFS4K makes an ext4 file system on a loop device with 4096-byte
// logical sectors (a 4Kn disk) and mounts it for the test: O_DIRECT there
// refuses 512-byte aligned IO with EINVAL.
func loopFS4K(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a loop device needs root")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", "--sector-size", "4096", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device: %v %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	if out, err := exec.Command("mkfs.ext4", "-q", "-b", "4096", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	mnt := t.TempDir()
	if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
		t.Skipf("mount %s: %v", dev, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, 0) })
	return mnt
}

// TestDirect4Kn: with o-direct on a disk whose sectors are 4 KiB, IO that
// is aligned to 512 bytes but not to 4096 takes the buffered fd (posix
// asks statx for the alignment) instead of failing with EINVAL.
func TestDirect4Kn(t *testing.T) {
	mnt := loopFS4K(t)
	for _, path := range []string{"bio", "direct"} {
		t.Run(path, func(t *testing.T) {
			b := newBrick(t, map[string]string{"directory": filepath.Join(mnt, path), "o-direct": "true",
				"health-check-interval": "0", "data-path": path})
			_, fd := b.mustCreate(b.root(), "f")
			defer fd.Unref()
			fc := fd.Ctx(b.px).(*fileCtx)
			if !fc.direct || fc.offAlign != 4096 {
				t.Fatalf("O_DIRECT %v with offset alignment %d, want 4096", fc.direct, fc.offAlign)
			}
			whole := pattern(16384, 7)
			b.mustWrite(fd, 0, whole)             // aligned: O_DIRECT
			b.mustWrite(fd, 512, whole[512:1024]) // 512-aligned only
			b.mustWrite(fd, 8192+512, pattern(1024, 9))
			copy(whole[8192+512:], pattern(1024, 9))
			equal(t, "read back, 4096-aligned", b.mustRead(fd, 0, 16384), whole)
			equal(t, "read back, 512-aligned", b.mustRead(fd, 512, 1024), whole[512:1536])
		})
	}
}

// TestReleaseCloseError: a close(2) that fails at the last release is
// logged and counted, not dropped.
func TestReleaseCloseError(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	env := xlatortest.NewEnv(t)
	env.Logger = zap.New(core)
	b := newBrickWith(t, env, map[string]string{"directory": t.TempDir(), "health-check-interval": "0"})
	_, fd := b.mustCreate(b.root(), "f")
	fc := fd.Ctx(b.px).(*fileCtx)
	// Close the OS fd behind posix's back: its own close then fails.
	if err := unix.Close(fc.fd); err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	found := logs.FilterMessageSnippet("close failed").All()
	if len(found) != 1 || !strings.Contains(found[0].ContextMap()["path"].(string), "f") {
		t.Fatalf("close failure logs: %v", logs.All())
	}
	if b.px.closeErrors.Load() != 1 {
		t.Fatalf("close-errors = %d", b.px.closeErrors.Load())
	}
}

// TestBioSection: the bio data path shows in the statedump as a section of
// its own, labelled: the set's counters, the brick's totals (closed files'
// devices included) and each open file's device.
func TestBioSection(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0", "data-path": "bio"})
	_, f1 := b.mustCreate(b.root(), "a")
	b.mustWrite(f1, 0, pattern(8192, 1))
	_, f2 := b.mustCreate(b.root(), "b")
	b.mustWrite(f2, 0, pattern(4096, 2))
	b.mustRead(f2, 0, 4096)
	f1.Unref() // closed: its counters stay in the brick's totals
	var kv map[string]any
	for _, s := range b.env.Sections() {
		if s.Name == "bio.l0" {
			kv = map[string]any{}
			for _, e := range s.KVs {
				kv[e.Key] = e.Value
			}
		}
	}
	if kv == nil {
		t.Fatalf("no bio.l0 section: %v", b.env.Sections())
	}
	dev := "device.l0:fd" + strconv.Itoa(f2.Ctx(b.px).(*fileCtx).fd)
	for key, want := range map[string]any{
		"devices-open": 1, "devices-closed": uint64(1),
		"brick.submitted.write": uint64(2), "brick.submitted.read": uint64(1),
		"brick.bytes-written": uint64(12288), "brick.bytes-read": uint64(4096), "brick.in-flight": int64(0),
		dev + ".submitted.write": uint64(1), dev + ".bytes-written": uint64(4096),
		"set.allocs": uint64(3), "set.active": int64(0),
	} {
		if kv[key] != want {
			t.Errorf("%s = %v (%T), want %v", key, kv[key], kv[key], want)
		}
	}
	f2.Unref()
}
