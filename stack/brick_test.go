package stack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
	"golang.org/x/sys/unix"
)

// stripeVolfile is a stripe over the named bricks' directories under
// data, in the order given.
func stripeVolfile(t *testing.T, data string, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	var subs []string
	for i, d := range dirs {
		fmt.Fprintf(&b, "volume \"brick%d\" {\n  type = \"posix\"\n  directory = %q\n  health-check-interval = \"0s\"\n}\n", i, filepath.Join(data, d))
		subs = append(subs, fmt.Sprintf("%q", fmt.Sprintf("brick%d", i)))
	}
	fmt.Fprintf(&b, "volume \"stripe\" {\n  type = \"stripe\"\n  subvolumes = [%s]\n}\n", strings.Join(subs, ", "))
	return writeVolfile(t, b.String())
}

func writeVolfile(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vol.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// open starts the volfile at path and closes it at the end of the test.
func open(t *testing.T, path string, opts Options) (*Stack, error) {
	t.Helper()
	s, err := Open(path, opts)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func mustOpen(t *testing.T, path string, opts Options) *Stack {
	t.Helper()
	s, err := open(t, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBrickIdentity: a stripe volume's bricks record their identity on
// first start, and every volfile that puts a brick elsewhere (directories
// swapped, subvolumes reordered, a child more, another volume's brick, a
// brick alone) refuses to start, saying what the brick holds and what the
// volfile expects.
func TestBrickIdentity(t *testing.T) {
	data := t.TempDir()
	vol := stripeVolfile(t, data, "a", "b")
	s := mustOpen(t, vol, Options{})
	// The identity is stored in both bricks, with one volume id.
	var ids []xlator.BrickID
	for _, name := range []string{"brick0", "brick1"} {
		id, ok, _, err := xlator.Unwrap(s.Graph.Xlator(name)).(xlator.Brick).BrickID()
		if err != nil || !ok {
			t.Fatalf("%s: identity %v ok=%v err=%v", name, id, ok, err)
		}
		ids = append(ids, id)
	}
	if ids[0].VolumeID == "" || ids[0].VolumeID != ids[1].VolumeID {
		t.Fatalf("volume ids differ or are empty: %+v", ids)
	}
	if ids[0] != (xlator.BrickID{VolumeID: ids[0].VolumeID, Brick: "brick0", Position: "0/2"}) ||
		ids[1] != (xlator.BrickID{VolumeID: ids[0].VolumeID, Brick: "brick1", Position: "1/2"}) {
		t.Fatalf("identities: %+v", ids)
	}
	s.Close()

	// The same volfile starts again.
	mustOpen(t, vol, Options{}).Close()

	cases := []struct {
		name string
		vol  string
		want []string // substrings of the error
	}{
		{"directories swapped", stripeVolfile(t, data, "b", "a"),
			[]string{`brick "brick0"`, filepath.Join(data, "b"), `holds brick "brick1"`, "swapped or mistyped"}},
		{"subvolumes order swapped", writeVolfile(t, fmt.Sprintf(`
volume "brick0" {
  type = "posix"
  directory = %q
}
volume "brick1" {
  type = "posix"
  directory = %q
}
volume "stripe" {
  type = "stripe"
  subvolumes = ["brick1", "brick0"]
}`, filepath.Join(data, "a"), filepath.Join(data, "b"))),
			[]string{`brick "brick1"`, "child 0 of 2", `holds brick "brick1"`, "at position 1/2", "order in subvolumes"}},
		{"child count changed", stripeVolfile(t, data, "a", "b", "c"),
			[]string{"brick0", "at position 0/2", "position 0/3"}},
		{"another volume's brick", stripeVolfile(t, data, "a", "other"), nil},
		{"one brick alone", writeVolfile(t, fmt.Sprintf(`
volume "brick0" {
  type = "posix"
  directory = %q
}`, filepath.Join(data, "a"))), []string{"position 0/2", "order in subvolumes or their number changed"}},
	}
	// "other" becomes a brick of another volume first.
	other := t.TempDir()
	mustOpen(t, stripeVolfile(t, other, "x", "y"), Options{}).Close()
	if err := os.Rename(filepath.Join(other, "x"), filepath.Join(data, "other")); err != nil {
		t.Fatal(err)
	}
	cases[3].want = []string{"different volumes", ids[0].VolumeID}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := open(t, tc.vol, Options{})
			t.Log(err)
			if !errors.Is(err, xlator.ErrBrickMismatch) {
				t.Fatalf("started or failed otherwise: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// Nothing was stamped by the refused starts: the volume still starts.
	mustOpen(t, vol, Options{}).Close()
}

func TestBrickAdopt(t *testing.T) {
	data := t.TempDir()
	vol := stripeVolfile(t, data, "a", "b")
	s := mustOpen(t, vol, Options{})
	ia := mustCreate(t, s, "f")
	s.Close()
	_ = ia

	// brick1 is lost and replaced by an empty directory.
	if err := os.RemoveAll(filepath.Join(data, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(data, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := open(t, vol, Options{})
	if !errors.Is(err, xlator.ErrBrickMismatch) || !strings.Contains(err.Error(), "is empty but has no brick identity") ||
		!strings.Contains(err.Error(), "-adopt brick1") {
		t.Fatalf("fresh brick among identified ones: %v", err)
	}
	if _, err := open(t, vol, Options{Adopt: []string{"nosuch"}}); err == nil || !strings.Contains(err.Error(), `no brick of that name (bricks: brick0, brick1)`) {
		t.Fatalf("adopting an unknown brick: %v", err)
	}
	s = mustOpen(t, vol, Options{Adopt: []string{"brick1"}})
	id, ok, _, err := xlator.Unwrap(s.Graph.Xlator("brick1")).(xlator.Brick).BrickID()
	if err != nil || !ok || id.Brick != "brick1" || id.Position != "1/2" {
		t.Fatalf("adopted brick's identity: %+v %v %v", id, ok, err)
	}
	s.Close()
	mustOpen(t, vol, Options{}).Close() // adopted for good

	// A brick that holds files but lost its .xstack (a restore without it).
	if err := os.RemoveAll(filepath.Join(data, "a", ".xstack")); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, vol, Options{}); err == nil || !strings.Contains(err.Error(), "holds files but has no brick identity") {
		t.Fatalf("restored brick without identity: %v", err)
	}
	mustOpen(t, vol, Options{Adopt: []string{"brick0"}}).Close()

	// A damaged identity is reported, not taken for a missing one.
	idFile := filepath.Join(data, "a", ".xstack", "brick.json")
	if err := os.WriteFile(idFile, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, vol, Options{Adopt: []string{"brick0"}}); err == nil || !strings.Contains(err.Error(), idFile+" is not a brick identity") {
		t.Fatalf("damaged identity: %v", err)
	}

	// Bricks made before identities existed (files, no .xstack) are all
	// fresh: the volume takes them as they are and stamps them.
	old := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(old, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(old, d, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = mustOpen(t, stripeVolfile(t, old, "a", "b"), Options{})
	if _, ok, _, err := xlator.Unwrap(s.Graph.Xlator("brick1")).(xlator.Brick).BrickID(); !ok || err != nil {
		t.Fatalf("pre-identity brick not stamped: %v %v", ok, err)
	}
}

func mustCreate(t *testing.T, s *Stack, name string) xlator.Iatt {
	t.Helper()
	g := s.Graph
	c := g.Calls().Begin(t.Context(), xlator.FopCreate, xlator.Creds{}, 0)
	defer c.Done()
	in := g.Inodes().New()
	defer in.Unref()
	fd := g.NewFD(in, uint32(os.O_RDWR), 0, false)
	defer fd.Unref()
	ia, err := g.Top().Create(c, &xlator.Loc{Parent: g.Inodes().Root(), Name: name, Inode: in}, uint32(os.O_RDWR|os.O_CREATE), 0o644, 0, fd)
	if err != nil {
		t.Fatal(err)
	}
	return ia
}

// TestBrickOwner runs a second stack on a brick a first one holds, in
// this process and in another, and checks that the owner's death frees
// the brick.
func TestBrickOwner(t *testing.T) {
	data := t.TempDir()
	vol := writeVolfile(t, fmt.Sprintf("volume \"b\" {\n  type = \"posix\"\n  directory = %q\n}\n", filepath.Join(data, "b")))
	s := mustOpen(t, vol, Options{})
	_, err := open(t, vol, Options{})
	var be *posix.BusyError
	if !errors.As(err, &be) || !errors.Is(err, posix.ErrBrickBusy) || be.Pid != os.Getpid() {
		t.Fatalf("second stack on an owned brick: %v", err)
	}
	for _, w := range []string{filepath.Join(data, "b"), fmt.Sprintf("pid %d", os.Getpid()), os.Args[0], "xstack dump"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	// A read-only stack is refused too: the owner may change anything.
	if _, err := open(t, vol, Options{ReadOnly: true}); !errors.As(err, &be) {
		t.Fatalf("read-only stack on an owned brick: %v", err)
	}
	s.Close()
	mustOpen(t, vol, Options{}).Close()

	// Read-only stacks share the brick, and keep an owner out.
	r1 := mustOpen(t, vol, Options{ReadOnly: true})
	r2 := mustOpen(t, vol, Options{ReadOnly: true})
	if _, err := open(t, vol, Options{}); !errors.As(err, &be) || be.Pid != 0 || !strings.Contains(err.Error(), "read-only xstack command") {
		t.Fatalf("owner beside read-only stacks: %v", err)
	}
	r1.Close()
	r2.Close()

	// Another process owns the brick, then dies without cleaning up.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldBrick$")
	cmd.Env = append(os.Environ(), "XSTACK_TEST_HOLD="+vol)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("helper did not take the brick: %q %v", buf, err)
	}
	_, err = open(t, vol, Options{})
	if !errors.As(err, &be) || be.Pid != cmd.Process.Pid || !strings.Contains(be.Command, "TestHoldBrick") {
		t.Fatalf("brick held by pid %d: %v", cmd.Process.Pid, err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	mustOpen(t, vol, Options{}).Close() // the dead owner's lock is gone
}

// TestHoldBrick is TestBrickOwner's other process: it opens the volfile
// in $XSTACK_TEST_HOLD, says so, and waits to be killed.
func TestHoldBrick(t *testing.T) {
	vol := os.Getenv("XSTACK_TEST_HOLD")
	if vol == "" {
		t.Skip("run by TestBrickOwner")
	}
	if _, err := Open(vol, Options{}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("held\n")
	time.Sleep(time.Minute)
}

func TestNoCreate(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "missing", "brick")
	vol := writeVolfile(t, fmt.Sprintf("volume \"b\" {\n  type = \"posix\"\n  directory = %q\n}\n", dir))
	_, err := open(t, vol, Options{NoCreate: true})
	if err == nil || !strings.Contains(err.Error(), dir+" does not exist") || !strings.Contains(err.Error(), "never create") {
		t.Fatalf("NoCreate on a missing brick: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("NoCreate created something: %v", err)
	}
	if _, err := open(t, vol, Options{ReadOnly: true}); err == nil {
		t.Fatal("a read-only stack created its brick")
	}
	mustOpen(t, vol, Options{}).Close() // create-directory defaults to true
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("brick not created: %v", err)
	}
	// A brick path that is a file.
	f := filepath.Join(data, "file")
	os.WriteFile(f, nil, 0o644)
	vol = writeVolfile(t, fmt.Sprintf("volume \"b\" {\n  type = \"posix\"\n  directory = %q\n}\n", f))
	if _, err := open(t, vol, Options{}); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Fatalf("brick path is a file: %v", err)
	}
}

// TestReadOnly checks that a read-only stack changes nothing in its
// bricks, whatever it is asked, and refuses changes with EROFS.
func TestReadOnly(t *testing.T) {
	data := t.TempDir()
	vol := stripeVolfile(t, data, "a", "b")
	s := mustOpen(t, vol, Options{})
	mustCreate(t, s, "f")
	s.Close()
	// A file made behind the stack's back has no gfid yet.
	os.WriteFile(filepath.Join(data, "a", "behind"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(data, "b", "behind"), nil, 0o644)
	before := xlatortest.Snapshot(t, data)

	s = mustOpen(t, vol, Options{ReadOnly: true})
	g := s.Graph
	c := g.Calls().Begin(t.Context(), xlator.FopLookup, xlator.Creds{}, 0)
	defer c.Done()
	root := g.Inodes().Root()
	for _, name := range []string{"f", "behind"} {
		if _, err := g.Top().Lookup(c, &xlator.Loc{Parent: root, Name: name}); err != nil && name == "f" {
			t.Errorf("lookup %s: %v", name, err)
		}
	}
	if _, err := g.Top().Mkdir(c, &xlator.Loc{Parent: root, Name: "d"}, 0o755, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir on a read-only stack: %v", err)
	}
	if err := g.Top().Setxattr(c, &xlator.Loc{Inode: root}, "user.x", []byte("1"), 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("setxattr on a read-only stack: %v", err)
	}
	if err := g.Top().Unlink(c, &xlator.Loc{Parent: root, Name: "f"}); !errors.Is(err, syscall.EROFS) {
		t.Errorf("unlink on a read-only stack: %v", err)
	}
	s.Close()
	if after := xlatortest.Snapshot(t, data); !slices.Equal(before, after) {
		t.Fatalf("a read-only stack changed its bricks:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// TestReadOnlyBrickFS: a brick on a read-only file system is refused with
// that cause, not blamed on extended attributes.
func TestReadOnlyBrickFS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	fs := t.TempDir()
	if err := unix.Mount("xstack-test", fs, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(fs, unix.MNT_DETACH) })
	if err := os.Mkdir(filepath.Join(fs, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", fs, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	vol := writeVolfile(t, fmt.Sprintf("volume \"b\" {\n  type = \"posix\"\n  directory = %q\n}\n", filepath.Join(fs, "b")))
	_, err := open(t, vol, Options{})
	if err == nil || !strings.Contains(err.Error(), "mounted read-only") || strings.Contains(err.Error(), "extended attributes") {
		t.Fatalf("brick on a read-only file system: %v", err)
	}
}
