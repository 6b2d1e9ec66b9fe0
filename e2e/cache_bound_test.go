package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/mount/fuse"
)

// The cache's bound, end to end: reading many small files through a cache
// must not make the daemon hold much more memory than cache-size. Before
// the cache counted the iobufs it pins, each 1 KiB file cached this way
// pinned a 128 KiB iobuf (the size of the child readv of one page), and
// 8000 files held 1 GiB.
const (
	boundFiles     = 8000
	boundFileSize  = 1 << 10
	boundCacheSize = 16 << 20
	// boundRSSGrowth is the most the daemon's RSS may grow while the files
	// are read: cache-size plus room for what the daemon keeps per file by
	// design (8000 inodes in its table, the kernel's nodes, the cache's
	// per-file state) and for the Go heap's garbage between collections.
	boundRSSGrowth = 96 << 20
)

// boundVolfile is a posix brick under a cache of boundCacheSize.
func boundVolfile(brick string) string {
	return fmt.Sprintf(`volume "brick" {
  type             = "posix"
  directory        = %q
  create-directory = true
}

volume "cache" {
  type       = "cache"
  subvolumes = ["brick"]
  cache-size = "%dMiB"
}
`, brick, boundCacheSize>>20)
}

// boundContent is file i's content: distinct per file, so that a read
// served from another file's page shows.
func boundContent(i int) []byte {
	p := bytes.Repeat([]byte(fmt.Sprintf("file %05d ", i)), boundFileSize/10+1)
	return p[:boundFileSize]
}

// TestCacheBoundsMemory reads 8000 files of 1 KiB through a FUSE mount of
// posix under a 16 MiB cache, served by `xstack mount` in its own process,
// and checks that the daemon's resident memory grows by at most 96 MiB,
// that the statedump's held-bytes (the memory the cache's pages pin) stays
// within cache-size, and that it is what the daemon's iobuf pool has out. The files are created beforehand through the Go API
// on the same volfile, so they have their gfids and the daemon starts cold.
func TestCacheBoundsMemory(t *testing.T) {
	if err := fuse.Available(); err != nil {
		t.Skipf("FUSE is not available here: %v", err)
	}
	dir := t.TempDir()
	volfile := filepath.Join(dir, "bound.hcl")
	if err := os.WriteFile(volfile, []byte(boundVolfile(filepath.Join(dir, "brick"))), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	vol, err := api.Open(volfile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := vol.Mkdir("/small", 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range boundFiles {
		f, err := vol.Create(fmt.Sprintf("/small/f%05d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(boundContent(i)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := vol.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d files of %d bytes in %v", boundFiles, boundFileSize, time.Since(start).Round(time.Millisecond))

	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startXstack(t, dir, mnt, "mount", volfile, mnt)
	pid := d.cmd.Process.Pid
	if _, err := os.Stat(filepath.Join(mnt, "small")); err != nil {
		t.Fatal(err)
	}
	before := vmRSS(t, pid)

	start = time.Now()
	for i := range boundFiles {
		got, err := os.ReadFile(filepath.Join(mnt, "small", fmt.Sprintf("f%05d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, boundContent(i)) {
			t.Fatalf("f%05d: read %.40q…, want %.40q…", i, got, boundContent(i))
		}
	}
	after := vmRSS(t, pid)
	t.Logf("read %d files in %v", boundFiles, time.Since(start).Round(time.Millisecond))

	// Once the kernel has released every fd (RELEASE is asynchronous),
	// the iobufs the daemon has out are the cache's: the dump's
	// held-iobufs and held-bytes are what is pinned.
	var priv map[string]int64
	var active, activeBytes int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		dump := d.dump(t)
		priv = map[string]int64{}
		if x := dump.Xlator("cache"); x != nil {
			for _, kv := range x.Priv {
				if f, ok := kv.Value.(float64); ok {
					priv[kv.Key] = int64(f)
				}
			}
		}
		active, activeBytes = 0, 0
		if dump.Iobuf != nil {
			active, activeBytes = dump.Iobuf.Active, dump.Iobuf.StdallocBytes
			for _, c := range dump.Iobuf.Classes {
				activeBytes += c.ActiveCnt * int64(c.PageSize)
			}
		}
		if (dump.FDTable != nil && dump.FDTable.Open == 0 && active == priv["held-iobufs"]) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if active != priv["held-iobufs"] || activeBytes != priv["held-bytes"] {
		t.Errorf("the daemon has %d iobufs (%d bytes) out; the cache's dump says it holds %d (%d bytes)",
			active, activeBytes, priv["held-iobufs"], priv["held-bytes"])
	}
	t.Logf("daemon RSS %d MiB before, %d MiB after: +%.1f MiB (limit %d MiB); cache: pages %d, bytes-cached %d, held-iobufs %d, held-bytes %d (cache-size %d)",
		before>>20, after>>20, float64(after-before)/(1<<20), boundRSSGrowth>>20,
		priv["pages"], priv["bytes-cached"], priv["held-iobufs"], priv["held-bytes"], priv["cache-size"])
	if priv["cache-size"] != boundCacheSize {
		t.Fatalf("the cache's dump says cache-size %d, the volfile %d", priv["cache-size"], boundCacheSize)
	}
	if priv["held-bytes"] > boundCacheSize {
		t.Errorf("the cache holds %d bytes of iobufs, more than cache-size %d", priv["held-bytes"], boundCacheSize)
	}
	if priv["pages"] == 0 {
		t.Errorf("the cache kept nothing: the test no longer exercises it")
	}
	if after-before > boundRSSGrowth {
		t.Errorf("the daemon's RSS grew by %d MiB reading %d files of %d bytes through a %d MiB cache; the limit is %d MiB",
			(after-before)>>20, boundFiles, boundFileSize, boundCacheSize>>20, boundRSSGrowth>>20)
	}
}

// vmRSS returns the resident set size of process pid, from
// /proc/PID/status.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
