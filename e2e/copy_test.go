package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

const copySize = 64 << 20

// copyRange copies all of src to dst with copy_file_range(2), continuing
// short copies, and returns the count.
func copyRange(src, dst *os.File) (int64, error) {
	var total int64
	for {
		n, err := unix.CopyFileRange(int(src.Fd()), nil, int(dst.Fd()), nil, 1<<30, 0)
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, nil
		}
		total += int64(n)
	}
}

// copyReadWrite copies all of src to dst with 1 MiB read(2)s and
// write(2)s: what a program without copy_file_range does, and what the
// kernel does for it when a FUSE daemon answers ENOSYS.
func copyReadWrite(src, dst *os.File) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, 1<<20))
}

func openPair(t testing.TB, dir string) (src, dst *os.File) {
	t.Helper()
	src, err := os.Open(filepath.Join(dir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err = os.OpenFile(filepath.Join(dir, "dst"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		src.Close()
		t.Fatal(err)
	}
	return src, dst
}

// graphCount returns how many fops f the graph's top has served.
func graphCount(m *mounted, f xlator.Fop) uint64 {
	return m.st.Graph.Xlators()[0].Stats.Count(f)
}

// TestCopyFileRange64MiB copies 64 MiB of random data with
// copy_file_range(2) on the mount of posix.hcl and default.hcl (cache,
// stripe, two posix bricks): the copy reaches the graph as
// COPY_FILE_RANGE, no READ or WRITE reaches the daemon for it, and the
// copy reads back, through the mount and after the kernel's caches are
// dropped, as the source.
func TestCopyFileRange64MiB(t *testing.T) {
	data := make([]byte, copySize)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	for _, vf := range []string{"posix.hcl", "default.hcl"} {
		t.Run(vf, func(t *testing.T) {
			m := mount(t, vf)
			if err := os.WriteFile(filepath.Join(m.mnt, "src"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			src, dst := openPair(t, m.mnt)
			before := m.srv.Stats()
			reads, writes := graphCount(m, xlator.FopReadv), graphCount(m, xlator.FopWritev)
			n, err := copyRange(src, dst)
			src.Close()
			if cerr := dst.Close(); err == nil {
				err = cerr
			}
			if err != nil || n != copySize {
				t.Fatalf("copy_file_range: %d bytes, %v", n, err)
			}
			d := m.srv.Stats().Sub(before)
			if d.Count("COPY_FILE_RANGE") == 0 || d.Count("READ") != 0 || d.Count("WRITE") != 0 {
				t.Errorf("requests for the copy: COPY_FILE_RANGE %d, READ %d, WRITE %d; want some, 0, 0",
					d.Count("COPY_FILE_RANGE"), d.Count("READ"), d.Count("WRITE"))
			}
			if graphCount(m, xlator.FopCopyFileRange) == 0 || graphCount(m, xlator.FopReadv) != reads || graphCount(m, xlator.FopWritev) != writes {
				t.Errorf("the graph's top: %d copies, %d reads and %d writes during the copy",
					graphCount(m, xlator.FopCopyFileRange), graphCount(m, xlator.FopReadv)-reads, graphCount(m, xlator.FopWritev)-writes)
			}
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
				t.Logf("cannot drop the page cache (%v): reading back what the kernel may hold", err)
			}
			got, err := os.ReadFile(filepath.Join(m.mnt, "dst"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				i := 0
				for i < len(got) && i < len(data) && got[i] == data[i] {
					i++
				}
				t.Fatalf("the copy differs: %d bytes, want %d, first difference at %d", len(got), len(data), i)
			}
			checkQuiescent(t, m)
		})
	}
}

// BenchmarkCopy64MiB copies a 64 MiB file on a mount of posix.hcl and of
// default.hcl: with copy_file_range(2) (how=copy_file_range), with 1 MiB
// reads and writes through the mount (how=read-write, what the kernel
// does when the daemon cannot copy), with the cp on the PATH (how=cp),
// and, as the floor, with copy_file_range(2) on the brick's own file
// system (how=brick-copy_file_range). The source's pages in the mount's
// page cache are dropped before each copy (fadvise DONTNEED), so every
// way reads it through the daemon or the brick, not from the mount's
// cache; the brick's page cache stays warm for all. Dirty pages are
// written back (sync) before each copy, off the timer, so that no way
// pays for another's writeback. The figures, with their command, are in
// bench/README.md.
//
//	go test ./e2e -run '^$' -bench Copy64MiB -benchtime 5x -count 6 | benchstat -
func BenchmarkCopy64MiB(b *testing.B) {
	data := make([]byte, copySize)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	for _, vf := range []string{"posix.hcl", "default.hcl"} {
		m := mount(b, vf)
		if err := os.WriteFile(filepath.Join(m.mnt, "src"), data, 0o644); err != nil {
			b.Fatal(err)
		}
		brickDir := b.TempDir() // the same file system as the bricks
		if err := os.WriteFile(filepath.Join(brickDir, "src"), data, 0o644); err != nil {
			b.Fatal(err)
		}
		for _, how := range []string{"copy_file_range", "read-write", "cp", "brick-copy_file_range"} {
			b.Run(fmt.Sprintf("vol=%s/how=%s", vf, how), func(b *testing.B) {
				if how == "cp" {
					if _, err := exec.LookPath("cp"); err != nil {
						b.Skip("no cp")
					}
				}
				dir := m.mnt
				if how == "brick-copy_file_range" {
					dir = brickDir
				}
				b.SetBytes(copySize)
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					src, dst := openPair(b, dir)
					if dir == m.mnt { // on the brick's file system it would drop the brick's pages
						_ = unix.Fadvise(int(src.Fd()), 0, 0, unix.FADV_DONTNEED)
					}
					unix.Sync() // the previous copy's dirty pages are not this one's to write back
					b.StartTimer()
					var n int64
					var err error
					switch how {
					case "copy_file_range", "brick-copy_file_range":
						n, err = copyRange(src, dst)
					case "read-write":
						n, err = copyReadWrite(src, dst)
					case "cp":
						n = copySize
						out, cerr := exec.Command("cp", filepath.Join(dir, "src"), filepath.Join(dir, "dst")).CombinedOutput()
						if cerr != nil {
							err = fmt.Errorf("%v: %s", cerr, out)
						}
					}
					if cerr := dst.Close(); err == nil {
						err = cerr
					}
					b.StopTimer()
					src.Close()
					if err != nil || n != copySize {
						b.Fatalf("%s: %d bytes, %v", how, n, err)
					}
					b.StartTimer()
				}
			})
		}
		m.unmount(b)
	}
}
