package volfiles

import (
	"bytes"
	"io/fs"
	"os"
	"testing"
)

func TestDefault(t *testing.T) {
	disk, err := os.ReadFile(DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if !bytes.Equal(d, disk) {
		t.Errorf("Default() differs from %s on disk", DefaultName)
	}
	d[0] ^= 0xff // the caller owns its copy
	if !bytes.Equal(Default(), disk) {
		t.Errorf("modifying the result of Default() changed the embedded file")
	}
}

func TestFSHoldsEveryVolfile(t *testing.T) {
	want, _ := fsGlob(os.DirFS("."))
	got, _ := fsGlob(FS)
	if len(got) < 3 || len(got) != len(want) {
		t.Errorf("embedded %v, on disk %v", got, want)
	}
}

func fsGlob(f fs.FS) ([]string, error) { return fs.Glob(f, "*.hcl") }
