package api_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator"
)

// TestTmpfile: on the default volfile (cache, stripe, two posix bricks),
// an unnamed file holds data, is in no directory, and File.Link names it;
// one made with O_EXCL cannot be linked; a graph without tmpfile (mem)
// answers EOPNOTSUPP.
func TestTmpfile(t *testing.T) {
	data0 := t.TempDir()
	v, err := api.Open("", &api.Options{Vars: map[string]string{"data": data0, "mount": t.TempDir()}})
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

	// Its FileInfo carries the birth time of the file on brick0 (stripe
	// reports child 0's).
	var bx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Join(data0, "brick0", "d", "named"), 0, unix.STATX_BTIME, &bx); err != nil {
		t.Fatal(err)
	}
	if fi, err := v.Stat("d/named"); err != nil {
		t.Fatal(err)
	} else if ia := fi.Sys().(*xlator.Iatt); bx.Mask&unix.STATX_BTIME != 0 &&
		(!ia.HasBtime() || ia.Btime != (xlator.Timespec{Sec: bx.Btime.Sec, Nsec: int64(bx.Btime.Nsec)})) {
		t.Errorf("stat: birth time %v (mask %#x), brick0's file's is %+v", ia.Btime, ia.Mask, bx.Btime)
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
