package api_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/api"
)

// openPosix opens the shipped posix volfile (locks over a posix brick) on
// a temporary brick.
func openPosix(t *testing.T) *api.Volume {
	t.Helper()
	return openVolume(t, "../volfiles/posix.hcl", &api.Options{Vars: map[string]string{"data": t.TempDir()}})
}

func openRW(t *testing.T, v *api.Volume, name string) *api.File {
	t.Helper()
	f, err := v.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFileLocks: two Files of one file conflict as OFD locks do; a File's
// Close releases its locks and wakes a waiter; a wait ends with its
// context.
func TestFileLocks(t *testing.T) {
	v := openPosix(t)
	f1, f2 := openRW(t, v, "/f"), openRW(t, v, "/f")
	if err := f1.Lock(api.WriteLock, 100, 50, false); err != nil {
		t.Fatal(err)
	}
	if err := f1.Lock(api.ReadLock, 120, 10, false); err != nil {
		t.Fatalf("a File converting part of its own lock: %v", err)
	}
	if err := f2.Lock(api.ReadLock, 0, 0, false); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("read lock over another File's write lock: %v, want EAGAIN", err)
	}
	if err := f2.Lock(api.ReadLock, 120, 10, false); err != nil {
		t.Fatalf("read lock beside a read lock: %v", err)
	}
	info, err := f2.TestLock(api.WriteLock, 0, 0)
	if err != nil || info == nil || info.Type != api.WriteLock || info.Start != 100 || info.Length != 20 || info.Pid != os.Getpid() {
		t.Fatalf("TestLock = %+v, %v; want f1's write lock on [100, 120) by this process", info, err)
	}
	if err := f1.Unlock(100, 20); err != nil {
		t.Fatal(err)
	}
	if err := f2.Lock(api.WriteLock, 0, 110, false); err != nil {
		t.Fatalf("after the unlock: %v", err)
	}

	// A wait that its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f1.WithContext(ctx).Lock(api.WriteLock, 0, 1, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait past the deadline: %v, want one wrapping context.DeadlineExceeded", err)
	}
	// A wait that f2's Close ends.
	done := make(chan error, 1)
	go func() { done <- f1.Lock(api.WriteLock, 0, 0, true) }()
	time.Sleep(20 * time.Millisecond)
	if err := f2.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not granted after the holder closed")
	}
}

// TestFlock: whole-file locks, beside range locks without conflict.
func TestFlock(t *testing.T) {
	v := openPosix(t)
	f1, f2 := openRW(t, v, "/f"), openRW(t, v, "/f")
	if err := f1.Flock(syscall.LOCK_EX | syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if err := f2.Flock(syscall.LOCK_SH | syscall.LOCK_NB); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("shared flock beside an exclusive one: %v", err)
	}
	if err := f2.Lock(api.WriteLock, 0, 0, false); err != nil {
		t.Fatalf("range lock beside a flock lock: %v", err)
	}
	if err := f1.Flock(syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := f2.Flock(syscall.LOCK_SH | syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if err := f2.Flock(12345); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("bad flock operation: %v", err)
	}
}

// TestLocksNeedTranslator: a volume without a locks volume says so.
func TestLocksNeedTranslator(t *testing.T) {
	v := openMem(t)
	f := openRW(t, v, "/f")
	err := f.Lock(api.WriteLock, 0, 0, false)
	if !errors.Is(err, api.ErrNoLocks) || !errors.Is(err, syscall.ENOSYS) {
		t.Fatalf("lock without a lock translator: %v", err)
	}
}

// TestSeekDataHole: SEEK_DATA and SEEK_HOLE find a sparse file's hole on
// posix; on a volume that cannot tell, the whole file is data.
func TestSeekDataHole(t *testing.T) {
	const hole = 1 << 20
	for _, tc := range []struct {
		name   string
		open   func(*testing.T) *api.Volume
		sparse bool
	}{{"posix", openPosix, true}, {"mem", openMem, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := openRW(t, tc.open(t), "/sparse")
			if _, err := f.WriteAt([]byte("head"), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("tail"), 2*hole); err != nil {
				t.Fatal(err)
			}
			size := int64(2*hole + 4)
			// A brick's file system reports holes at block
			// granularity: the hole starts at or after the head's end
			// and before the tail, the data after it at the tail's
			// block, which is aligned.
			h, err := f.Seek(10, api.SeekHole)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sparse && (h < 4 || h >= 2*hole) || !tc.sparse && h != size {
				t.Errorf("SEEK_HOLE from 10 = %d", h)
			}
			d, err := f.Seek(hole, api.SeekData)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sparse && d != 2*hole || !tc.sparse && d != hole {
				t.Errorf("SEEK_DATA from %d = %d", hole, d)
			}
			if _, err := f.Seek(size, api.SeekData); !errors.Is(err, syscall.ENXIO) {
				t.Errorf("SEEK_DATA at the end: %v, want ENXIO", err)
			}
		})
	}
}
