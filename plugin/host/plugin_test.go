package host_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

func checksumVolfile(bin string, extra string) string {
	return hcl(`
volume "brick" {
  type = "mem"
}

volume "cks" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
  block-size = "4KiB"
  %s
}
`, bin, extra)
}

// TestFops runs writes, reads and namespace fops through the checksum
// plugin over an in-memory bottom in the host.
func TestFops(t *testing.T) {
	v := open(t, checksumVolfile(checksumBin(t), ""), registry(nil), nil)

	if err := v.Mkdir("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := v.Create("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3*4096+123)
	rand.New(rand.NewSource(1)).Read(data)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	// An unaligned overwrite: the partly covered blocks are re-read.
	if _, err := f.WriteAt([]byte("hello"), 4094); err != nil {
		t.Fatal(err)
	}
	copy(data[4094:], "hello")
	got := make([]byte, len(data)+10)
	n, err := f.ReadAt(got, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:n], data) {
		t.Fatalf("read back %d bytes, differ from the %d written", n, len(data))
	}
	// An unaligned read inside a block.
	small := make([]byte, 7)
	if _, err := f.ReadAt(small, 4092); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(small, data[4092:4099]) {
		t.Fatalf("unaligned read: %q, want %q", small, data[4092:4099])
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	fi, err := v.Stat("/d/a")
	if err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("stat: %v, size %d", err, fi.Size())
	}
	if err := v.Rename("/d/a", "/d/b"); err != nil {
		t.Fatal(err)
	}
	if err := v.Symlink("b", "/d/l"); err != nil {
		t.Fatal(err)
	}
	if tgt, err := v.Readlink("/d/l"); err != nil || tgt != "b" {
		t.Fatalf("readlink: %q, %v", tgt, err)
	}
	ents, err := v.ReadDir("/d")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"b", "l"}) {
		t.Fatalf("readdir: %v", names)
	}
	if err := v.Truncate("/d/b", 5000); err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(v.FS(), "d/b")
	if err != nil || !bytes.Equal(b, data[:5000]) {
		t.Fatalf("after truncate: %d bytes, %v", len(b), err)
	}
	if _, err := v.Statfs(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/d/l", "/d/b", "/d"} {
		if err := v.Remove(p); err != nil {
			t.Fatalf("remove %s: %v", p, err)
		}
	}
	if _, err := v.Stat("/d"); errno(err) != syscall.ENOENT {
		t.Fatalf("stat after remove: %v", err)
	}

	// The checksums are in a table file in the child, named after the
	// file's gfid, in a directory at the root that clients do not see.
	g := v.Stack().Graph
	f2, _ := v.Create("/x")
	f2.Write(data[:8192])
	f2.Close()
	in := lookup(t, v, g.Xlator("brick"), "x")
	defer in.Unref()
	dir := lookup(t, v, g.Xlator("brick"), ".xstack-checksum")
	defer dir.Unref()
	c := call(v, xlator.FopLookup)
	defer c.Done()
	tia, err := g.Xlator("brick").Lookup(c, &xlator.Loc{Parent: dir, Name: in.GFID().String()})
	if err != nil || tia.Size != 8+2*4 {
		t.Fatalf("checksum table: %d bytes, %v", tia.Size, err)
	}
	if _, err := v.Stat("/.xstack-checksum"); errno(err) != syscall.ENOENT {
		t.Fatalf("stat of the table directory through the plugin: %v, want ENOENT", err)
	}

	// Messages larger than a ring call's message area go in arena
	// slots: a 16 KiB xattr both ways, a directory of 300 entries.
	top := g.Top()
	big := bytes.Repeat([]byte("xattr value "), 16<<10/12)
	cx := call(v, xlator.FopSetxattr)
	if err := top.Setxattr(cx, &xlator.Loc{Inode: in}, "user.big", big, 0); err != nil {
		t.Fatalf("setxattr of %d bytes: %v", len(big), err)
	}
	got2, err := top.Getxattr(cx, &xlator.Loc{Inode: in}, "user.big")
	cx.Done()
	if err != nil || !bytes.Equal(got2, big) {
		t.Fatalf("getxattr of %d bytes: %d bytes, %v", len(big), len(got2), err)
	}
	if err := v.Mkdir("/many", 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		f, err := v.Create(fmt.Sprintf("/many/a-rather-long-file-name-%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if ents, err := v.ReadDir("/many"); err != nil || len(ents) != 300 {
		t.Fatalf("readdir of 300 entries: %d, %v", len(ents), err)
	}

	// The plugin's statistics appear under its volume.
	dump := hostOf(t, v, "cks").Dump()
	keys := map[string]any{}
	for _, kv := range dump {
		keys[kv.Key] = kv.Value
	}
	for _, k := range []string{"pid", "state", "restarts", "plugin.iobuf.iobuf_pool.arena_size",
		"plugin.mempool.cks:table.hot-count", "plugin.xlator.writes"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("dump lacks %s; has %v", k, dumpKeys(dump))
		}
	}
	if keys["state"] != "running" {
		t.Errorf("state %v", keys["state"])
	}
	// Data crossed through the arena in place (borrowed on both sides):
	// with every fop done, no slot is still taken and no borrowed iobuf
	// still referenced.
	if keys["shm-slots-in-use"] != 0 {
		t.Errorf("shm-slots-in-use %v after the workload, want 0", keys["shm-slots-in-use"])
	}
	if n := v.Stack().Graph.Env().Iobufs.BorrowActive(); n != 0 {
		t.Errorf("%d borrowed iobufs still referenced in the host", n)
	}
	// Reads and writes went through the ring, both ways, and the
	// writes' data as host memory read in place; nothing is kept.
	for _, k := range []string{"ring-calls", "ring-callbacks-served", "plugin.ring.served",
		"plugin.ring.callbacks", "plugin.ring.host-memory-writes"} {
		if n, _ := strconv.Atoi(fmt.Sprint(keys[k])); n == 0 {
			t.Errorf("%s = %v, want > 0", k, keys[k])
		}
	}
	// Every fop, both ways, went through the rings, and no worker missed
	// a wake-up.
	for _, k := range []string{"grpc-fop-calls", "plugin.ring.grpc-callbacks", "ring-late-wakes", "plugin.ring.late-wakes"} {
		if n, _ := strconv.Atoi(fmt.Sprint(keys[k])); n != 0 {
			t.Errorf("%s = %v, want 0", k, keys[k])
		}
	}
	if keys["host-iobufs-kept-by-plugin"] != 0 {
		t.Errorf("host-iobufs-kept-by-plugin = %v after the workload", keys["host-iobufs-kept-by-plugin"])
	}
}

func dumpKeys(kvs []xlator.KV) string {
	var s []string
	for _, kv := range kvs {
		if !strings.Contains(kv.Key, "arena.") && !strings.Contains(kv.Key, "class.") {
			s = append(s, kv.Key)
		}
	}
	return strings.Join(s, " ")
}

// TestConcurrentFops: eight goroutines write, read back and stat their
// own files through a pass-through plugin at once, so that calls and
// wind-backs of several chains share both rings, workers hand over the
// poller's place and sleep and wake. Every byte comes back, and no
// worker missed a wake-up (a missed one would be rescued only by the end
// of its sleep's bound, and counted).
func TestConcurrentFops(t *testing.T) {
	v := open(t, hcl(`volume "brick" { type = "mem" }
volume "top" {
  type = "plugin"
  path = %q
  subvolumes = ["brick"]
}`, passthroughBin(t)), registry(nil), nil)
	if err := v.Mkdir("/c", 0o755); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 20
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- func() error {
				rng := rand.New(rand.NewSource(int64(w)))
				name := fmt.Sprintf("/c/f%d", w)
				f, err := v.Create(name)
				if err != nil {
					return err
				}
				defer f.Close()
				for r := range rounds {
					// Sizes from one byte to 1 MiB: small ones go in
					// the call slot's data, large ones in host memory.
					data := make([]byte, 1+rng.Intn(1<<20))
					rng.Read(data)
					off := int64(rng.Intn(1 << 16))
					if _, err := f.WriteAt(data, off); err != nil {
						return fmt.Errorf("round %d: write: %w", r, err)
					}
					got := make([]byte, len(data))
					if _, err := f.ReadAt(got, off); err != nil && !errors.Is(err, io.EOF) {
						return fmt.Errorf("round %d: read: %w", r, err)
					}
					if !bytes.Equal(got, data) {
						return fmt.Errorf("round %d: %d bytes at %d read back differ", r, len(data), off)
					}
					if fi, err := v.Stat(name); err != nil || fi.Size() < off+int64(len(data)) {
						return fmt.Errorf("round %d: stat: %v, %v", r, fi, err)
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	keys := map[string]any{}
	for _, kv := range hostOf(t, v, "top").Dump() {
		keys[kv.Key] = kv.Value
	}
	for _, k := range []string{"ring-late-wakes", "plugin.ring.late-wakes", "shm-slots-in-use", "host-iobufs-kept-by-plugin"} {
		if n, _ := strconv.Atoi(fmt.Sprint(keys[k])); n != 0 {
			t.Errorf("%s = %v, want 0", k, keys[k])
		}
	}
	if n, _ := strconv.Atoi(fmt.Sprint(keys["ring-calls"])); n < workers*rounds*3 {
		t.Errorf("ring-calls = %v, want the fops to have gone through the ring", keys["ring-calls"])
	}
	if n := v.Stack().Graph.Env().Iobufs.BorrowActive(); n != 0 {
		t.Errorf("%d borrowed iobufs still referenced in the host", n)
	}
}
