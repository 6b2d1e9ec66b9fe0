package api_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator/xlatortest"
)

const memVolfile = `
volume "bottom" {
  type = "mem"
}
volume "top" {
  type       = "pass"
  subvolumes = ["bottom"]
}
`

func openMem(t *testing.T) *api.Volume {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mem.hcl")
	if err := os.WriteFile(p, []byte(memVolfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return openVolume(t, p, &api.Options{Registry: xlatortest.Registry()})
}

// openVolume opens the volfile at path ("" for the default one); the
// volume is closed, and the close checked, when the test ends.
func openVolume(t *testing.T, path string, opts *api.Options) *api.Volume {
	t.Helper()
	v, err := api.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return v
}

func TestFileIO(t *testing.T) {
	v := openMem(t)
	f, err := v.Create("/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello ")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 200000) // 3.2 MB: several readv/writev
	if _, err := f.WriteAt(big, 100); err != nil {
		t.Fatal(err)
	}
	if pos, err := f.Seek(0, io.SeekStart); err != nil || pos != 0 {
		t.Fatal(pos, err)
	}
	head := make([]byte, 11)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != "hello world" {
		t.Fatalf("%q %v", head, err)
	}
	got := make([]byte, len(big))
	if n, err := f.ReadAt(got, 100); err != nil || n != len(big) || !bytes.Equal(got, big) {
		t.Fatalf("ReadAt n=%d err=%v equal=%v", n, err, bytes.Equal(got, big))
	}
	tail := make([]byte, 10)
	if n, err := f.ReadAt(tail, int64(100+len(big)-4)); n != 4 || err != io.EOF {
		t.Fatalf("short ReadAt n=%d err=%v", n, err)
	}
	if end, err := f.Seek(0, io.SeekEnd); err != nil || end != int64(100+len(big)) {
		t.Fatal(end, err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != 5 || fi.Name() != "a.txt" || fi.Mode() != 0o644 {
		t.Fatalf("%v %v", fi, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if fds := v.Stack().Graph.FDs().Open; fds != 0 {
		t.Fatalf("%d fds open after close", fds)
	}
}

func TestNamespace(t *testing.T) {
	v := openMem(t)
	if err := v.MkdirAll("/x/y/z", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := v.Mkdir("/x", 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("mkdir existing: %v", err)
	}
	f, err := v.OpenFile("/x/y/file", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := v.OpenFile("/x/y/file", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL on existing: %v", err)
	}
	if err := v.Rename("/x/y/file", "/x/moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Stat("/x/y/file"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old name: %v", err)
	}
	if err := v.Symlink("moved", "/x/link"); err != nil {
		t.Fatal(err)
	}
	if tgt, err := v.Readlink("/x/link"); err != nil || tgt != "moved" {
		t.Fatal(tgt, err)
	}
	if err := v.Chmod("/x/moved", 0o640); err != nil {
		t.Fatal(err)
	}
	if fi, _ := v.Stat("/x/moved"); fi.Mode() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	ents, err := v.ReadDir("/x")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"link", "moved", "y"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("readdir %v", names)
	}
	if err := v.Remove("/x/y"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove non-empty dir: %v", err)
	}
	if _, err := v.Open("/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	if err := v.RemoveAll("/x"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := v.ReadDir("/"); len(ents) != 0 {
		t.Fatalf("root not empty: %v", ents)
	}
}

func TestFSView(t *testing.T) {
	v := openMem(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(v.MkdirAll("/d/e", 0o755))
	for _, p := range []string{"/top.txt", "/d/one", "/d/e/two"} {
		f, err := v.Create(p)
		must(err)
		_, err = f.Write([]byte("content of " + p))
		must(err)
		must(f.Close())
	}
	var walked []string
	must(fs.WalkDir(v.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		walked = append(walked, p)
		return err
	}))
	if want := []string{".", "d", "d/e", "d/e/two", "d/one", "top.txt"}; !reflect.DeepEqual(walked, want) {
		t.Fatalf("walk %v", walked)
	}
	data, err := fs.ReadFile(v.FS(), "d/e/two")
	if err != nil || string(data) != "content of /d/e/two" {
		t.Fatalf("%q %v", data, err)
	}
	must(fstest.TestFS(v.FS(), "top.txt", "d/one", "d/e/two"))
}

func TestCopyInAndOut(t *testing.T) {
	v := openMem(t)
	data := bytes.Repeat([]byte("0123456789"), 350_000) // 3.5 MB: several 1 MiB pieces
	f, err := v.Create("/copy")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(f, bytes.NewReader(data)); err != nil || n != int64(len(data)) {
		t.Fatalf("copy in: %d %v", n, err)
	}
	if _, err := f.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if n, err := io.Copy(&out, f); err != nil || n != int64(len(data)-5) || !bytes.Equal(out.Bytes(), data[5:]) {
		t.Fatalf("copy out: %d %v", n, err)
	}
	f.Close()
	if s := v.Stack().Env.Iobufs.Stats(); s.Active() != 0 || s.IobrefActive != 0 {
		t.Fatalf("iobufs still active: %d, iobrefs %d", s.Active(), s.IobrefActive)
	}
}

// TestReadDirReportsDamage: a listing entry the volume gives no attributes
// for (stripe withholds them from a file it refuses) reports the volume's
// error from Info, not an all-zero FileInfo.
func TestReadDirReportsDamage(t *testing.T) {
	data := t.TempDir()
	v, err := api.Open("../volfiles/stripe.hcl", &api.Options{Vars: map[string]string{"data": data}})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"/good": []byte("good"), "/bad": bytes.Repeat([]byte("x"), 300<<10)} {
		f, err := v.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	// The geometry goes from one brick's copy, behind the volume's back.
	bad := filepath.Join(data, "brick1", "bad")
	for _, k := range []string{"trusted.xstack.stripe", "user.xstack.stripe"} {
		_ = unix.Removexattr(bad, k)
	}
	v, err = api.Open("../volfiles/stripe.hcl", &api.Options{Vars: map[string]string{"data": data}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ents, err := v.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]error{}
	for _, e := range ents {
		fi, err := e.Info()
		seen[e.Name()] = err
		if err == nil && e.Name() == "good" && fi.Size() != 4 {
			t.Errorf("good: size %d", fi.Size())
		}
		if e.Name() == "bad" && e.Type() != 0 {
			t.Errorf("bad: type %v, want a regular file", e.Type())
		}
	}
	if len(seen) != 2 || seen["good"] != nil || !errors.Is(seen["bad"], syscall.EIO) {
		t.Fatalf("entries and their Info errors: %v", seen)
	}
}
