package api_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator"
)

// TestTmpfile: on the default volfile (cache, stripe, two posix bricks),
// an unnamed file holds data, is in no directory, and File.Link names it;
// one made with O_EXCL cannot be linked; a graph without tmpfile (mem)
// answers EOPNOTSUPP.
func TestTmpfile(t *testing.T) {
	v, err := api.Open("", &api.Options{Vars: map[string]string{"data": t.TempDir(), "mount": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Mkdir("d", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := v.Tmpfile("d", os.O_RDWR, 0o600)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		t.Skip("skipping: the bricks' file system has no O_TMPFILE")
	}
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // over both bricks
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() != int64(len(data)) || st.Sys().(*xlator.Iatt).Nlink != 0 {
		t.Fatalf("stat of the unnamed file: %v, %v; want size %d and no link", st, err, len(data))
	}
	if ents, err := v.ReadDir("d"); err != nil || len(ents) != 0 {
		t.Fatalf("the directory lists %v, %v; want nothing", ents, err)
	}
	if err := f.Link("d/named"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := v.Open("d/named")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back by name: %d bytes, %v; want %d", len(got), err, len(data))
	}

	x, err := v.Tmpfile("/", os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Link("excl"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("link of an O_EXCL tmpfile: %v, want ENOENT", err)
	}
	x.Close()
	if _, err := v.Stat("excl"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat excl: %v, want not found", err)
	}

	if _, err := openMem(t).Tmpfile("/", os.O_RDWR, 0o600); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("tmpfile on mem: %v, want EOPNOTSUPP", err)
	}
}
