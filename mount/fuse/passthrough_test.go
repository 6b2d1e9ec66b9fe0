package fuse

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/cache"
	"github.com/xstack/xstack/xlators/posix"
)

// posixSpec is a graph of the given types (top first) over one posix
// brick in a new temporary directory, which it returns too; posix keeps
// the given reserve.
func posixSpec(t *testing.T, reserve string, above ...string) (*xlator.Spec, *xlator.Registry, string) {
	t.Helper()
	reg := xlatortest.Registry()
	posix.Register(reg)
	cache.Register(reg)
	brick := t.TempDir()
	spec := xlatortest.Chain(append(above, posix.TypeName)...)
	o, err := posix.Schema.Decode(map[string]string{"directory": brick, "reserve": reserve, "health-check-interval": "0s"})
	if err != nil {
		t.Fatal(err)
	}
	spec.Volumes[len(above)].Options = o
	for i, typ := range above {
		if typ == "cache" {
			if spec.Volumes[i].Options, err = cache.Schema.Decode(nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return spec, reg, brick
}

// TestPassthrough: on a mount of posix alone with passthrough on, the
// kernel reads and writes the brick file itself: data written through the
// mount is in the brick file, reads back, and no READ or WRITE reached
// the daemon; the backing id goes with the last handle. With a cache
// above posix, or a reserve on posix, opens take the normal path.
func TestPassthrough(t *testing.T) {
	requireFuse(t)
	// A translator that lets data pass (pass, DataTransparent) is no
	// obstacle.
	spec, reg, brick := posixSpec(t, "0", "pass")
	m := mountSpec(t, spec, reg, func(c *Config) { c.Passthrough = true })
	if !m.srv.b.pt.on.Load() {
		t.Skip("skipping: the kernel does not offer FUSE passthrough here (6.9 or later)")
	}
	data := bytes.Repeat([]byte("passthrough "), 100000)
	before := m.srv.Stats()
	if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(m.path("f"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back through the mount: %d bytes, %v", len(got), err)
	}
	if onBrick, err := os.ReadFile(filepath.Join(brick, "f")); err != nil || !bytes.Equal(onBrick, data) {
		t.Fatalf("the brick file: %d bytes, %v", len(onBrick), err)
	}
	d := m.srv.Stats().Sub(before)
	if d.Count("READ") != 0 || d.Count("WRITE") != 0 {
		t.Errorf("%d READs and %d WRITEs reached the daemon through passthrough files", d.Count("READ"), d.Count("WRITE"))
	}
	st := m.srv.Stats()
	if st.PassthroughOpens < 2 || st.PassthroughRefused != 0 {
		t.Errorf("passthrough opens %d, refused %d", st.PassthroughOpens, st.PassthroughRefused)
	}
	if !eventually(func() bool { return m.srv.Stats().PassthroughFiles == 0 }) {
		t.Errorf("%d backing ids left after every file was closed", m.srv.Stats().PassthroughFiles)
	}
	// Two opens of one file share its backing id.
	f1, err := os.OpenFile(m.path("f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := os.Open(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f1.WriteAt([]byte("XYZ"), 0); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := f2.ReadAt(b, 0); err != nil || string(b) != "XYZ" {
		t.Errorf("a second open reads %q, %v", b, err)
	}
	if n := m.srv.Stats().PassthroughFiles; n != 1 {
		t.Errorf("%d backing files for one file open twice", n)
	}
	f1.Close()
	f2.Close()

	for _, c := range []struct {
		name, reserve string
		above         []string
	}{{"cache above posix", "0", []string{"cache"}}, {"posix with a reserve", "1MiB", nil}} {
		t.Run(c.name, func(t *testing.T) {
			spec, reg, _ := posixSpec(t, c.reserve, c.above...)
			m := mountSpec(t, spec, reg, func(c *Config) { c.Passthrough = true })
			before := m.srv.Stats()
			if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(m.path("f")); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back: %v", err)
			}
			d := m.srv.Stats().Sub(before)
			if st := m.srv.Stats(); st.PassthroughOpens != 0 || st.PassthroughRefused == 0 || d.Count("WRITE") == 0 {
				t.Errorf("passthrough opens %d, refused %d, WRITEs %d; want the normal path", st.PassthroughOpens, st.PassthroughRefused, d.Count("WRITE"))
			}
		})
	}
}
