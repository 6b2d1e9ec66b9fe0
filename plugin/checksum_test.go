package plugin_test

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

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
	for _, kv := range host(t, v, "cks").Dump() {
		if kv.Key == "plugin.xlator.mismatches" {
			mismatches = kv.Value
		}
	}
	if mismatches != "1" {
		t.Errorf("mismatches = %v", mismatches)
	}
}
