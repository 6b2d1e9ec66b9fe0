package posix

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenBeneathRenameRace: a file renamed out of the directory while
// openBeneath resolves it is either found or missing (ENOENT), never
// EXDEV: the kernel's final RESOLVE_BENEATH check fails a walk whose file
// left the directory's tree meanwhile (the gfid store's entry of a file
// unlinked while it is opened through the store moves to unlink/).
func TestOpenBeneathRenameRace(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(a, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	afd, err := unix.Open(a, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(afd)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			_ = os.Rename(filepath.Join(a, "f"), filepath.Join(b, "f"))
			_ = os.Rename(filepath.Join(b, "f"), filepath.Join(a, "f"))
		}
	}()
	counts := map[error]int{}
	for range 50000 {
		fd, err := openBeneath(afd, "f", unix.O_PATH, 0)
		if err == nil {
			unix.Close(fd)
		}
		counts[err]++
	}
	stop.Store(true)
	<-done
	for err, n := range counts {
		if err != nil && err != syscall.ENOENT {
			t.Errorf("openBeneath during renames: %v (%d times)", err, n)
		}
	}
	t.Logf("outcomes: %v", counts)
}
