package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/xlator"
)

// TestConvertCommand: a GlusterFS brick volfile converts, the notes on
// stderr, the xstack volfile on stdout or in -o's file, which validates;
// one with refused types exits 1, naming every problem at its line, and
// writes nothing.
func TestConvertCommand(t *testing.T) {
	const testdata = "../../volfile/convert/testdata/"
	code, out, errs := xstack("convert", testdata+"brick.vol")
	if code != 0 || !strings.Contains(out, `= "posix"`) || !strings.Contains(errs, "brick.vol:16:10: note:") {
		t.Fatalf("convert brick.vol: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	hcl := filepath.Join(t.TempDir(), "brick.hcl")
	if code, _, errs := xstack("convert", testdata+"brick.vol", "-o", hcl); code != 0 {
		t.Fatalf("convert -o: exit %d: %s", code, errs)
	}
	if code, _, errs := xstack("validate", hcl); code != 0 {
		t.Errorf("the converted volfile does not validate: %s", errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	code, _, errs = xstack("convert", testdata+"unknown.vol", "--output", bad)
	if code != 1 || !strings.Contains(errs, `unknown.vol:7:10: GlusterFS type "protocol/client"`) || !strings.Contains(errs, "5 problems; nothing written") {
		t.Errorf("convert unknown.vol: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a refused conversion wrote %s: %v", bad, err)
	}
	if code, _, _ := xstack("convert"); code != 2 {
		t.Errorf("convert without a file: exit %d, want 2", code)
	}
}

// TestListAndProfile: a stack running in this process with its admin
// socket shows in `xstack list` (pid, the volfile's base name, its
// absolute path, running), and `xstack profile` of its socket shows its
// translators' fops, as text and as JSON; --clear starts an interval.
func TestListAndProfile(t *testing.T) {
	run := t.TempDir()
	t.Setenv("XSTACK_RUN_DIR", run)
	dir := t.TempDir()
	vol := filepath.Join(dir, "mine.hcl")
	if err := os.WriteFile(vol, []byte(`volume "brick" {
  type      = "posix"
  directory = "`+filepath.Join(dir, "brick")+`"
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Relative, as a user types it: the registry keeps it absolute.
	wd, _ := os.Getwd()
	t.Chdir(dir)
	f, err := stack.LoadFile("mine.hcl", stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.Start(f, "mine.hcl", stack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := startAdmin(st, f, stackName("mine.hcl"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	t.Chdir(wd)

	code, out, errs := xstack("list", "--json")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errs)
	}
	var l []listEntry
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	// Other stacks of this machine (root's, in the system run directory)
	// may be listed too: this process's must be, once.
	var mine []listEntry
	for _, e := range l {
		if e.Pid == os.Getpid() {
			mine = append(mine, e)
		}
	}
	if len(mine) != 1 || mine[0].Name != "mine" || mine[0].Volfile != vol || mine[0].State != "running" || mine[0].Uptime == "" {
		t.Errorf("list: %+v, want this process once: mine, %s, running", l, vol)
	}
	code, out, _ = xstack("list")
	if code != 0 || !strings.Contains(out, "PID") || !strings.Contains(out, vol) {
		t.Errorf("list: exit %d\n%s", code, out)
	}

	// Some fops, then the profile.
	lookups := func(n int) {
		for range n {
			call := st.Graph.Calls().Begin(t.Context(), xlator.FopLookup, xlator.Creds{}, 0)
			_, err := st.Graph.Top().Lookup(call, &xlator.Loc{Parent: st.Graph.Inodes().Root(), Name: "nope"})
			call.Done()
			if !errors.Is(err, syscall.ENOENT) {
				t.Fatalf("lookup: %v", err)
			}
		}
	}
	lookups(3)
	code, out, errs = xstack("profile", a.Socket())
	if code != 0 || !strings.Contains(out, "Volume: brick (type posix") || !strings.Contains(out, "LOOKUP") {
		t.Errorf("profile: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs = xstack("profile", "--clear", a.Socket()); code != 0 {
		t.Fatalf("profile --clear: exit %d: %s", code, errs)
	}
	lookups(2)
	code, out, errs = xstack("profile", "--json", a.Socket())
	var p struct {
		Cumulative, Interval struct {
			Xlators []struct {
				Name string
				Fops []struct {
					Fop   string
					Count uint64
				}
			}
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil {
		t.Fatalf("profile --json: exit %d\n%s%s", code, out, errs)
	}
	count := func(x []struct {
		Name string
		Fops []struct {
			Fop   string
			Count uint64
		}
	}) uint64 {
		for _, v := range x {
			for _, f := range v.Fops {
				if v.Name == "brick" && f.Fop == "LOOKUP" {
					return f.Count
				}
			}
		}
		return 0
	}
	if c, i := count(p.Cumulative.Xlators), count(p.Interval.Xlators); c != 5 || i != 2 {
		t.Errorf("lookups: %d cumulative, %d in the interval; want 5 and 2\n%s", c, i, out)
	}
	if code, _, _ := xstack("profile", "--interval", "-1s"); code != 2 {
		t.Errorf("a negative interval: exit %d, want 2", code)
	}
}

// TestPutGetNameTheSide: an error of put or get says which side failed,
// the local file or the volume's, reading or writing.
func TestPutGetNameTheSide(t *testing.T) {
	data := t.TempDir()
	vol := "../../volfiles/posix.hcl"
	local := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(local, []byte("some data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := xstack("put", "--var", "data="+data, vol, local, "/f"); code != 0 {
		t.Fatalf("put: exit %d: %s", code, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"put", "--var", "data=" + data, vol, t.TempDir(), "/d"}, "reading local file"},
		{[]string{"put", "--var", "data=" + data, vol, filepath.Join(t.TempDir(), "missing"), "/g"}, "local file: open"},
		{[]string{"put", "--var", "data=" + data, vol, local, "/no/such/dir/f"}, "volume:"},
		{[]string{"get", "--var", "data=" + data, vol, "/missing", filepath.Join(t.TempDir(), "x")}, "volume:"},
		{[]string{"get", "--var", "data=" + data, vol, "/f", "/dev/full"}, "writing local file /dev/full"},
		{[]string{"get", "--var", "data=" + data, vol, "/f", filepath.Join(t.TempDir(), "no", "dir")}, "local file: open"},
	} {
		code, _, errs := xstack(c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("xstack %s: exit %d, stderr %q; want %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}

// TestOthersStacksNamed: when this user runs no stack but root does, dump
// and profile say so (instead of only "no running xstack found"), and
// list shows root's stacks by pid.
func TestOthersStacksNamed(t *testing.T) {
	t.Setenv("XSTACK_RUN_DIR", t.TempDir())
	rootDir := t.TempDir()
	saved := rootRunDir
	rootRunDir = rootDir
	defer func() { rootRunDir = saved }()
	pid := os.Getpid() // a live process standing for root's daemon
	if err := os.WriteFile(filepath.Join(rootDir, "xstack-"+strconv.Itoa(pid)+".sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"dump", "profile"} {
		code, _, errs := xstack(cmd)
		if code != 1 || !strings.Contains(errs, "no running xstack found") || !strings.Contains(errs, "root runs xstack (pid "+strconv.Itoa(pid)+")") {
			t.Errorf("%s: exit %d: %s", cmd, code, errs)
		}
	}
	code, out, errs := xstack("list")
	if code != 0 || !strings.Contains(out, strconv.Itoa(pid)) || !strings.Contains(out, "root's") {
		t.Errorf("list: exit %d\n%s%s", code, out, errs)
	}
}
