package host_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
)

// bareBin builds plugin/internal/testplugin/bare, a plugin written from
// PROTOCOL.md without package plugin, speaking protocol version v alone.
func bareBin(tb testing.TB, v int) string {
	return buildAs(tb, "plugin/internal/testplugin/bare", fmt.Sprintf("bare-v%d", v),
		fmt.Sprintf("-ldflags=-X main.version=%d", v))
}

func bareVolfile(bin string) string {
	return hcl(`
volume "bare" {
  type = "plugin"
  path = %q
}
`, bin)
}

// TestProtocolVersions starts the bare plugin built as each version: the
// host serves every version from MinProtocolVersion to ProtocolVersion
// (IO works, the statedump names the version), and refuses any other at
// start with ErrProtocolVersion, an error that names the binary, its
// version, the host's and what to do. The bare plugin never maps the
// arena: a protocol 5 plugin says so at Init, a protocol 4 plugin says
// nothing and the host finds its ring not ready; either way the host
// sends it no slot (the bare plugin fails a writev that names one), and
// 1 MiB of data crosses in the messages both ways.
func TestProtocolVersions(t *testing.T) {
	if host.MinProtocolVersion != 4 || host.ProtocolVersion != 6 {
		t.Fatalf("versions %d to %d: update this test's table", host.MinProtocolVersion, host.ProtocolVersion)
	}
	for _, tc := range []struct {
		version int
		arena   string // the statedump's arena, when served
		refused string // in the start error, when refused
	}{
		{version: 3, refused: "speaks protocol 3, this host speaks 4 to 6: rebuild the plugin against this version of xstack"},
		{version: 4, arena: "off: the plugin did not map it: its ring is not ready after Init (protocol 4)"},
		{version: 5, arena: "off: the plugin did not map it: bare maps no arena"},
		{version: 6, arena: "off: the plugin did not map it: bare maps no arena"},
		{version: 7, refused: "speaks protocol 7, this host speaks 4 to 6: upgrade xstack, or rebuild the plugin"},
	} {
		t.Run(fmt.Sprintf("version=%d", tc.version), func(t *testing.T) {
			bin := bareBin(t, tc.version)
			if tc.refused != "" {
				err := startErr(t, bareVolfile(bin))
				if !errors.Is(err, host.ErrProtocolVersion) || !strings.Contains(err.Error(), bin+" "+tc.refused) {
					t.Fatalf("start: %v\nwant ErrProtocolVersion with %q", err, bin+" "+tc.refused)
				}
				t.Logf("start: %v", err)
				return
			}
			v := open(t, bareVolfile(bin), registry(nil), nil)
			g := v.Stack().Graph
			top := g.Top()
			c := call(v, xlator.FopCreate)
			defer c.Done()
			in := g.Inodes().New()
			defer in.Unref()
			fd := g.NewFD(in, syscall.O_RDWR, 0, false)
			defer fd.Unref()
			if _, err := top.Create(c, &xlator.Loc{Parent: g.Inodes().Root(), Name: "f", Inode: in}, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0, fd); err != nil {
				t.Fatalf("create: %v", err)
			}
			data := pattern(1 << 20)
			ref := g.Env().Iobufs.FromBytes(data)
			n, err := top.Writev(c, fd, ref, 0)
			ref.Unref()
			if n != len(data) || err != nil {
				t.Fatalf("writev of 1 MiB: %d, %v", n, err)
			}
			if got := readAll(t, top, c, fd, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("readv of 1 MiB: %d bytes, differ", len(got))
			}
			// bare has neither lseek nor locks (nor had a plugin
			// before protocol 6): the fops answer ENOSYS, which front
			// ends take as "do without", not a transport error.
			if _, err := top.Lseek(c, fd, 0, xlator.SeekHole); !errors.Is(err, syscall.ENOSYS) {
				t.Errorf("lseek: %v, want ENOSYS", err)
			}
			if _, err := top.Lk(c, fd, xlator.LkSet, &xlator.Flock{Type: xlator.LockWrite, End: xlator.LockToEOF}); !errors.Is(err, syscall.ENOSYS) {
				t.Errorf("lk: %v, want ENOSYS", err)
			}
			// Nor copy_file_range: the host's graph copies by reading
			// and writing through it.
			if n, err := top.CopyFileRange(c, fd, 0, fd, int64(len(data)), 4096, 0); n != 4096 || err != nil {
				t.Errorf("copy_file_range: %d, %v; want the graph's read-and-write copy", n, err)
			} else if got := readAll(t, top, c, fd, len(data)+4096); !bytes.Equal(got[len(data):], data[:4096]) {
				t.Errorf("the copied bytes differ")
			}
			keys := map[string]string{}
			for _, kv := range hostOf(t, v, "bare").Dump() {
				keys[kv.Key] = fmt.Sprint(kv.Value)
			}
			if keys["protocol"] != fmt.Sprint(tc.version) || keys["arena"] != tc.arena {
				t.Errorf("statedump protocol = %q, arena = %q; want %d, %q", keys["protocol"], keys["arena"], tc.version, tc.arena)
			}
		})
	}
}

// startErr starts the stack of src and returns why it failed to.
func startErr(t *testing.T, src string) error {
	t.Helper()
	reg := registry(nil)
	f, diags := volfile.Parse([]byte(src), "test.hcl", reg, nil)
	if err := diags.Err(); err != nil {
		t.Fatalf("volfile: %v", err)
	}
	st, err := stack.Start(f, "test.hcl", stack.Options{Registry: reg, StartTimeout: 20 * time.Second,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err == nil {
		st.Close()
		t.Fatal("the stack started")
	}
	return err
}
