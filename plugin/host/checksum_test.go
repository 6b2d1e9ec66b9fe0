package host_test

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator"
)

// TestChecksumDetectsCorruption writes through the checksum plugin, then
// changes the data directly in the child (behind the plugin's back): reads
// of the changed block fail with EIO and the plugin's error reaches the
// host's log under the volume's name; other blocks still read.
func TestChecksumDetectsCorruption(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	v := open(t, checksumVolfile(checksumBin(t), ""), registry(nil), zap.New(core))
	g := v.Stack().Graph

	data := bytes.Repeat([]byte("0123456789abcdef"), 3*4096/16)
	f, err := v.Create("/victim")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}

	// Corrupt block 1 in the mem child, through the host graph.
	brick := g.Xlator("brick")
	in := lookup(t, v, brick, "victim")
	defer in.Unref()
	fd := g.NewFD(in, syscall.O_RDWR, 0, false)
	defer fd.Unref()
	c := call(v, xlator.FopWritev)
	if err := brick.Open(c, &xlator.Loc{Inode: in}, syscall.O_RDWR, fd); err != nil {
		t.Fatal(err)
	}
	bad := g.Env().Iobufs.FromBytes([]byte("XX"))
	if _, err := brick.Writev(c, fd, bad, 4096+100); err != nil {
		t.Fatal(err)
	}
	bad.Unref()
	c.Done()

	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatalf("block 0: %v", err)
	}
	if _, err := f.ReadAt(buf[:10], 4096+4000); errno(err) != syscall.EIO {
		t.Fatalf("read of the corrupted block: %v, want EIO", err)
	}
	if _, err := f.ReadAt(buf, 2*4096); err != nil {
		t.Fatalf("block 2: %v", err)
	}
	f.Close()

	waitFor(t, 5*time.Second, "the plugin's error in the host log", func() bool {
		for _, e := range logs.All() {
			if e.Level == zapcore.ErrorLevel && strings.Contains(e.Message, "checksum mismatch") {
				if !strings.HasSuffix(e.LoggerName, "cks") {
					t.Errorf("logged under %q, want the volume cks", e.LoggerName)
				}
				fields := e.ContextMap()
				if fields["path"] != "/victim" || fields["block"] != float64(1) {
					t.Errorf("fields %v", fields)
				}
				return true
			}
		}
		return false
	})
	var mismatches any
	for _, kv := range hostOf(t, v, "cks").Dump() {
		if kv.Key == "plugin.xlator.mismatches" {
			mismatches = kv.Value
		}
	}
	if mismatches != "1" {
		t.Errorf("mismatches = %v", mismatches)
	}
}

// checksumPosix starts the checksum plugin (4 KiB blocks) over a posix
// brick in a temporary directory, and returns the volume and the brick.
func checksumPosix(t *testing.T) (*api.Volume, string) {
	brick := filepath.Join(t.TempDir(), "brick")
	v := open(t, hcl(`
volume "brick" {
  type                  = "posix"
  directory             = %q
  health-check-interval = "0s"
}
volume "cks" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
  block-size = "4KiB"
}
`, brick, checksumBin(t)), registry(nil), nil)
	return v, brick
}

// flipByte changes one byte of the file at path, behind the stack.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestChecksumBigFile writes through the plugin process, over a posix
// brick, a file with more sums than one ext4 xattr could hold (10 MiB at
// 4 KiB a sum, over twice the old limit of 1022), reads it back, and
// catches a byte changed in the brick file far past that limit.
func TestChecksumBigFile(t *testing.T) {
	v, brick := checksumPosix(t)
	data := make([]byte, 10<<20+77)
	rand.New(rand.NewSource(3)).Read(data)
	f, err := v.Create("/big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.Write(data); err != nil || n != len(data) {
		t.Fatalf("write: %d, %v", n, err)
	}
	got := make([]byte, len(data))
	if n, err := f.ReadAt(got, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v, equal %v", n, err, bytes.Equal(got, data))
	}
	far := int64(len(data) - 10000)
	flipByte(t, filepath.Join(brick, "big"), far)
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf[:10], far); errno(err) != syscall.EIO {
		t.Fatalf("read of the changed block at %d: %v, want EIO", far, err)
	}
	if _, err := f.ReadAt(buf, far/4096*4096-4096); err != nil {
		t.Fatalf("the block before it: %v", err)
	}
}

// TestChecksumOpenUnlinked: through the plugin process, an open file
// whose name is gone is written, read back, and a byte changed in it
// (through /proc, as the brick file has no name) is caught.
func TestChecksumOpenUnlinked(t *testing.T) {
	v, brick := checksumPosix(t)
	f, err := v.Create("/tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := bytes.Repeat([]byte("open, then unlinked "), 1000)
	if _, err := f.Write(data[:5000]); err != nil {
		t.Fatal(err)
	}
	if err := v.Remove("/tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[5000:], 5000); err != nil {
		t.Fatalf("write after the unlink: %v", err)
	}
	got := make([]byte, len(data))
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v, equal %v", err, bytes.Equal(got, data))
	}
	// The brick file is still open in this process, under no name.
	deleted := filepath.Join(brick, "tmp") + " (deleted)"
	fds, _ := os.ReadDir("/proc/self/fd")
	var path string
	for _, e := range fds {
		p := filepath.Join("/proc/self/fd", e.Name())
		if target, err := os.Readlink(p); err == nil && target == deleted {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatalf("no open fd on %s", deleted)
	}
	flipByte(t, path, 15000)
	if _, err := f.ReadAt(got[:10], 15000); errno(err) != syscall.EIO {
		t.Fatalf("read of the changed block: %v, want EIO", err)
	}
	if ents, err := os.ReadDir(filepath.Join(brick, ".xstack-checksum")); err != nil || len(ents) != 0 {
		t.Errorf("tables left in the brick: %v, %v", ents, err)
	}
}
