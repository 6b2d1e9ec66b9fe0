package fuse

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// copyAll copies up to n bytes with copy_file_range(2), continuing short
// copies until n or the end of the source, and returns the count.
func copyAll(t *testing.T, src *os.File, srcOff int64, dst *os.File, dstOff int64, n int) int {
	t.Helper()
	total := 0
	for total < n {
		k, err := unix.CopyFileRange(int(src.Fd()), &srcOff, int(dst.Fd()), &dstOff, n-total, 0)
		if err != nil {
			t.Fatalf("copy_file_range after %d bytes: %v", total, err)
		}
		if k == 0 {
			break
		}
		total += k
	}
	return total
}

// TestCopyFileRangeMount: copy_file_range(2) on a mount reaches the graph
// as COPY_FILE_RANGE, on both loops, over posix alone and with the cache
// above it, and the brick's kernel copies (no READ or WRITE reaches the
// daemon): the destination holds the source's bytes, the copy ends short
// at the end of the source, a read through a destination fd opened and
// read before sees the new bytes (the kernel dropped its pages), the copy
// counts as a write for keep-cache, a file capability goes with it, and
// one file's overlapping ranges are refused.
func TestCopyFileRangeMount(t *testing.T) {
	for _, goFuse := range []bool{false, true} {
		for _, above := range [][]string{nil, {"cache"}} {
			t.Run(fmt.Sprintf("go-fuse=%v/above=%v", goFuse, above), func(t *testing.T) {
				spec, reg, brick := posixSpec(t, "0", above...)
				m := mountSpec(t, spec, reg, func(c *Config) { c.GoFuseLoop = goFuse })
				srcData, old := pattern(1<<20+123, 1), pattern(512<<10, 2)
				if err := os.WriteFile(m.path("src"), srcData, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(m.path("dst"), old, 0o755); err != nil {
					t.Fatal(err)
				}
				dst, err := os.OpenFile(m.path("dst"), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer dst.Close()
				if got := readAt(t, dst, 0, len(old)); !bytes.Equal(got, old) {
					t.Fatal("dst before the copy")
				}
				src, err := os.Open(m.path("src"))
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()

				before := m.srv.Stats()
				if n := copyAll(t, src, 5, dst, 1000, 1<<20+500); n != len(srcData)-5 {
					t.Fatalf("copied %d bytes, want %d (short at the end of src)", n, len(srcData)-5)
				}
				d := m.srv.Stats().Sub(before)
				if d.Count("COPY_FILE_RANGE") == 0 || d.Count("READ") != 0 || d.Count("WRITE") != 0 {
					t.Errorf("requests for the copy: COPY_FILE_RANGE %d, READ %d, WRITE %d; want some, 0, 0",
						d.Count("COPY_FILE_RANGE"), d.Count("READ"), d.Count("WRITE"))
				}
				want := append(old[:1000:1000], srcData[5:]...)
				if got := readAt(t, dst, 0, len(want)+10); !bytes.Equal(got, want) {
					t.Fatalf("dst read through the fd opened before: %d bytes, want %d", len(got), len(want))
				}
				if onBrick, err := os.ReadFile(filepath.Join(brick, "dst")); err != nil || !bytes.Equal(onBrick, want) {
					t.Fatalf("dst on the brick: %d bytes, %v", len(onBrick), err)
				}
				if !m.dirty(t, "dst") {
					t.Error("the copy did not mark dst written through this mount: its next open may keep stale pages")
				}
				// Past the end of src: nothing.
				off, doff := int64(len(srcData)), int64(0)
				if n, err := unix.CopyFileRange(int(src.Fd()), &off, int(dst.Fd()), &doff, 100, 0); n != 0 || err != nil {
					t.Errorf("copy from the end of src: %d, %v; want 0", n, err)
				}
				// One file, overlapping ranges.
				off, doff = 0, 100
				if _, err := unix.CopyFileRange(int(dst.Fd()), &off, int(dst.Fd()), &doff, 1000, 0); !errors.Is(err, unix.EINVAL) {
					t.Errorf("overlapping copy within dst: %v, want EINVAL", err)
				}

				if m.srv.b.killPriv {
					capv := []byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
					if err := unix.Setxattr(m.path("dst"), capabilityXattr, capv, 0); err != nil {
						t.Fatalf("setting security.capability: %v", err)
					}
					off, doff = 0, 0
					if n, err := unix.CopyFileRange(int(src.Fd()), &off, int(dst.Fd()), &doff, 10, 0); n != 10 || err != nil {
						t.Fatalf("copy into a file with a capability: %d, %v", n, err)
					}
					if _, err := unix.Getxattr(m.path("dst"), capabilityXattr, make([]byte, 64)); err != unix.ENODATA {
						t.Errorf("security.capability after a copy into the file: %v, want ENODATA", err)
					}
				}
			})
		}
	}
}

func readAt(t *testing.T, f *os.File, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	k, err := f.ReadAt(b, off)
	if err != nil && k == n {
		t.Fatal(err)
	}
	return b[:k]
}

// dirty reports the keep-cache dirty flag of the open file name (the
// mount's root holds it): whether a change through this mount since its
// last open keeps its next open from keeping the page cache.
func (m *mounted) dirty(t *testing.T, name string) bool {
	t.Helper()
	in := m.g.Inodes().Child(m.g.Inodes().Root(), name)
	if in == nil {
		t.Fatalf("%s is not in the inode table", name)
	}
	defer in.Unref()
	tab := m.srv.b.handles
	tab.mu.RLock()
	defer tab.mu.RUnlock()
	for _, h := range tab.byFh {
		if h.node.in == in {
			return h.node.dirty.Load()
		}
	}
	t.Fatalf("%s is not open", name)
	return false
}

// pattern returns n bytes that differ with seed and position.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) + seed
	}
	return b
}
