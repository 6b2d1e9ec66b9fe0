package posix

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// fakeSpace is a space over a statfs that reports what the test says.
func fakeSpace(reserve int64, free *atomic.Int64) *space {
	s := &space{statfs: func(_ int, st *unix.Statfs_t) error {
		st.Bsize, st.Bavail = 1, uint64(free.Load())
		return nil
	}}
	s.init(-1, reserve)
	return s
}

// TestSpaceBurst: concurrent writers reserve before they write, so a
// burst admits no more bytes than the headroom, however they interleave.
func TestSpaceBurst(t *testing.T) {
	var free atomic.Int64
	free.Store(100 << 20)
	s := fakeSpace(90<<20, &free) // 10 MiB of headroom
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if err := s.take(1 << 20); err == nil {
				ok.Add(1)
			} else if err != syscall.ENOSPC {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("%d writers of 1 MiB passed a 10 MiB headroom", ok.Load())
	}
	for range 10 {
		s.done(1<<20, 1<<20)
	}
	// Written since the statfs: still no room.
	if err := s.take(1); err != syscall.ENOSPC {
		t.Fatalf("take after the headroom was written: %v", err)
	}
	// A delete frees 5 MiB: seen at the next check, not a second later.
	free.Store(95 << 20)
	s.freed()
	if err := s.take(5 << 20); err != nil {
		t.Fatalf("take after freed(): %v", err)
	}
	s.done(5<<20, 0)
	// A write that allocated nothing gives its reservation back.
	if err := s.take(5 << 20); err != nil {
		t.Fatalf("take after a reservation that allocated nothing: %v", err)
	}
}

// smallFS mounts a tmpfs of size bytes for a test (root only), so that
// the test owns the whole file system's free space.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("xstack-test", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func availBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// TestReserveExact checks the reserve on a real file system the test owns:
// growing truncates cost nothing, fallocate is charged for the holes it
// fills, freed space counts at once, and a burst of writers cannot
// overrun the reserve.
func TestReserveExact(t *testing.T) {
	fs := smallFS(t, "64m")
	b := newBrick(t, map[string]string{"directory": filepath.Join(fs, "brick"), "reserve": "48MiB", "health-check-interval": "0"})
	root := b.root()

	// A truncate that grows a file by far more than the disk allocates
	// nothing: it succeeds, or fails as the brick's file system says
	// (EFBIG), never ENOSPC.
	f, fd := b.mustCreate(root, "sparse")
	c := b.call(xlator.FopFsetattr)
	_, err := b.top().Fsetattr(c, fd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 100 << 40})
	if err != nil && !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("growing ftruncate to 100 TiB: %v", err)
	}
	_, err = b.top().Setattr(c, &xlator.Loc{Inode: f}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 1 << 40})
	if err != nil && !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("growing truncate to 1 TiB: %v", err)
	}
	c.Done()
	fd.Unref()

	headroom := availBytes(t, fs) - 48<<20
	if headroom < 12<<20 {
		t.Fatalf("only %d bytes of headroom on a fresh 64 MiB tmpfs", headroom)
	}
	// Fill a file until ENOSPC.
	g, gfd := b.mustCreate(root, "fill")
	chunk := pattern(1<<20, 3)
	var n int64
	for ; n < 64; n++ {
		if _, err := b.write(gfd, n<<20, chunk); err != nil {
			errIs(t, "write past the reserve", err, syscall.ENOSPC)
			break
		}
	}
	if n == 64 || availBytes(t, fs) < 48<<20 {
		t.Fatalf("wrote %d MiB, %d bytes free: the reserve was overrun", n, availBytes(t, fs))
	}
	// Fallocate over what is written allocates nothing: it passes.
	c = b.call(xlator.FopFallocate)
	errIs(t, "fallocate over allocated blocks", b.top().Fallocate(c, gfd, xlator.FallocKeepSize, 0, n<<20), 0)
	// Past it, it would allocate: refused.
	errIs(t, "fallocate of holes past the reserve", b.top().Fallocate(c, gfd, xlator.FallocKeepSize, n<<20, 8<<20), syscall.ENOSPC)
	// Punching frees at once: the same fallocate passes right after.
	errIs(t, "punch hole", b.top().Fallocate(c, gfd, xlator.FallocPunchHole|xlator.FallocKeepSize, 0, n<<20), 0)
	errIs(t, "fallocate after the punch", b.top().Fallocate(c, gfd, xlator.FallocKeepSize, n<<20, 8<<20), 0)
	c.Done()
	gfd.Unref()
	_ = g

	// A delete frees at once too: fill again, delete, write at once.
	_, hfd := b.mustCreate(root, "fill2")
	for i := int64(0); ; i++ {
		if _, err := b.write(hfd, i<<20, chunk); err != nil {
			errIs(t, "write past the reserve", err, syscall.ENOSPC)
			break
		}
	}
	hfd.Unref()
	c = b.call(xlator.FopUnlink)
	errIs(t, "unlink", b.top().Unlink(c, &xlator.Loc{Parent: root, Name: "fill2"}), 0)
	errIs(t, "unlink", b.top().Unlink(c, &xlator.Loc{Parent: root, Name: "fill"}), 0)
	c.Done()
	_, ifd := b.mustCreate(root, "after-delete")
	if _, err := b.write(ifd, 0, chunk); err != nil {
		t.Fatalf("write right after a delete freed space: %v", err)
	}
	ifd.Unref()

	// A burst of writers at once never takes the file system below the
	// reserve.
	var wg sync.WaitGroup
	for i := range 24 {
		_, fd := b.mustCreate(root, "burst"+string(rune('a'+i)))
		wg.Go(func() {
			defer fd.Unref()
			for j := int64(0); j < 4; j++ {
				if _, err := b.write(fd, j<<20, chunk); err != nil {
					if err != syscall.ENOSPC {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if free := availBytes(t, fs); free < 48<<20 {
		t.Fatalf("after a burst of writers %d bytes are free, below the 48 MiB reserve", free)
	}
}
