package fuse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestWritebackCache: with the writeback cache the kernel merges small
// writes into large WRITEs; what reaches the brick is what was written,
// by the time close(2) returns: 4 KiB writes, a partial overwrite through
// a write-only descriptor (the kernel reads the page to fill it, which
// the graph must allow) and O_APPEND writes (the kernel appends itself);
// with either reader loop.
func TestWritebackCache(t *testing.T) {
	requireFuse(t)
	for _, goFuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "own-loop", true: "go-fuse-loop"}[goFuse], func(t *testing.T) { testWriteback(t, goFuse) })
	}
}

func testWriteback(t *testing.T, goFuse bool) {
	spec, reg, brick := posixSpec(t, "0")
	m := mountSpec(t, spec, reg, func(c *Config) { c.WritebackCache, c.GoFuseLoop = true, goFuse })
	if !m.srv.b.writeback {
		t.Skip("skipping: the kernel did not agree to FUSE_WRITEBACK_CACHE")
	}
	const writes = 1024
	block := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	before := m.srv.Stats()
	f, err := os.Create(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	for range writes {
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat(block, writes)
	if got, err := os.ReadFile(filepath.Join(brick, "f")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the brick file after close: %d bytes, %v; want %d", len(got), err, len(want))
	}
	if n := m.srv.Stats().Sub(before).Count("WRITE"); n == 0 || n > writes/8 {
		t.Errorf("%d 4 KiB writes reached the daemon as %d WRITEs: not merged", writes, n)
	}

	// A partial overwrite through a write-only descriptor.
	wo, err := os.OpenFile(m.path("f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wo.WriteAt([]byte("HELLO"), 4096*7+3); err != nil {
		t.Fatal(err)
	}
	if err := wo.Close(); err != nil {
		t.Fatal(err)
	}
	copy(want[4096*7+3:], "HELLO")
	if got, err := os.ReadFile(filepath.Join(brick, "f")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the brick file after a write-only overwrite: %d bytes, %v", len(got), err)
	}

	// O_APPEND.
	ap, err := os.OpenFile(m.path("log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one\n", "two\n", "three\n"} {
		if _, err := ap.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	ap.Close()
	ap, err = os.OpenFile(m.path("log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	ap.WriteString("four\n")
	ap.Close()
	if got, err := os.ReadFile(filepath.Join(brick, "log")); err != nil || string(got) != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("appended file on the brick: %q, %v", got, err)
	}
	if got, err := os.ReadFile(m.path("log")); err != nil || string(got) != "one\ntwo\nthree\nfour\n" {
		t.Fatalf("appended file through the mount: %q, %v", got, err)
	}
	on := false
	for _, kv := range m.srv.dumpKVs() {
		on = on || kv.Key == "writeback-cache" && kv.Value == true
	}
	if !on {
		t.Error("the mount's statedump does not say the writeback cache is on")
	}
}

// TestWritebackExcludesPassthrough: a mount asking for both is refused
// with an error that says why.
func TestWritebackExcludesPassthrough(t *testing.T) {
	g := xlatortest.Start(t, xlatortest.Chain("mem"), xlatortest.Registry(), nil)
	cfg := DefaultConfig(t.TempDir())
	cfg.WritebackCache, cfg.Passthrough = true, true
	srv, err := Mount(g, cfg)
	if err == nil {
		srv.Unmount()
		t.Fatal("mounted with both")
	}
	if !strings.Contains(err.Error(), "passthrough and writeback-cache exclude each other") {
		t.Errorf("error %q does not say why", err)
	}
}
