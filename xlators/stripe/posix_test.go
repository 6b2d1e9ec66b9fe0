package stripe

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

// TestOverPosix runs stripe over two posix bricks in temporary
// directories: one gfid per file on both bricks, the geometry xattr (under
// the user.* key when not root), data, namespace fops, and a fresh lookup
// finding everything again.
func TestOverPosix(t *testing.T) {
	reg := registry()
	posix.Register(reg)
	spec := &xlator.Spec{Source: "<test>", Top: "s", Volumes: []xlator.VolumeSpec{
		{Name: "s", Type: TypeName, Subvolumes: []string{"b0", "b1"}, Options: options(kb16, false)}}}
	dirs := []string{t.TempDir(), t.TempDir()}
	for i, d := range dirs {
		o := xlator.NewOptions()
		o.Set("directory", xlator.Value{Kind: xlator.KindPath, Str: d}, true)
		o.Set("health-check-interval", xlator.Value{Kind: xlator.KindDuration}, true)
		spec.Volumes = append(spec.Volumes, xlator.VolumeSpec{Name: fmt.Sprintf("b%d", i), Type: posix.TypeName, Options: o})
	}
	g, err := xlator.New(spec, reg, xlatortest.NewEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Init(); err != nil {
		t.Skipf("posix bricks cannot start here: %v", err)
	}
	g.Stop()
	g = xlatortest.Start(t, spec, reg, nil)
	e := &env{t: t, g: g, s: xlator.Unwrap(g.Top()).(*Stripe), n: 2}
	c := e.call(xlator.FopMkdir)
	defer c.Done()
	top := g.Top()

	// Both bricks are directories of one file system: df counts it once.
	sv, err := top.Statfs(c, &xlator.Loc{Inode: e.root()})
	var raw syscall.Statfs_t
	if err == nil {
		err = syscall.Statfs(dirs[0], &raw)
	}
	if err != nil || sv.Fsid == 0 || sv.Blocks*sv.Frsize != raw.Blocks*uint64(raw.Frsize) {
		t.Errorf("statfs over two bricks of one file system: %+v (the file system has %d blocks of %d): %v", sv, raw.Blocks, raw.Frsize, err)
	}

	in, fd := e.mustCreate("f")
	data := make([]byte, 5*kb16+77)
	for i := range data {
		data[i] = byte(i)
	}
	e.mustWrite(fd, 0, data)
	if got := e.mustRead(fd, 0, 1<<20); !bytes.Equal(got, data) {
		t.Fatalf("read back differs at %d", firstDiff(got, data))
	}
	for i, want := range []int64{5 * kb16, 5*kb16 + 77} { // blocks 0,2,4 | 1,3,5
		st, err := os.Stat(dirs[i] + "/f")
		if err != nil || st.Size() != want {
			t.Errorf("brick %d file: %v, %v; want size %d", i, st, err, want)
		}
		ia, err := g.Xlator(fmt.Sprintf("b%d", i)).Stat(c, &xlator.Loc{Parent: e.root(), Name: "f"})
		if err != nil || ia.Gfid != in.GFID() {
			t.Errorf("brick %d gfid %v, %v; want %v", i, ia.Gfid, err, in.GFID())
		}
	}

	// O_APPEND: stripe finds the logical end; the bricks never see the
	// flag (each would append at its own end).
	afd := e.open(in, syscall.O_WRONLY|syscall.O_APPEND)
	for _, s := range []string{"xyz", "0123456789"} {
		e.mustWrite(afd, 0, []byte(s))
		data = append(data, s...)
	}
	if got := e.mustRead(fd, 0, 1<<20); !bytes.Equal(got, data) {
		t.Fatalf("after appends: %d bytes, differs at %d", len(got), firstDiff(got, data))
	}

	// Directory, file inside, symlink, rename; then forget every inode
	// and find it all again through lookups.
	din := g.Inodes().New()
	dia, err := top.Mkdir(c, &xlator.Loc{Parent: e.root(), Name: "d", Inode: din}, 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := g.Inodes().Link(din, e.root(), "d", &dia)
	din.Unref()
	defer dir.Unref()
	_, fd2, err := e.create(dir, "g")
	if err != nil {
		t.Fatal(err)
	}
	e.mustWrite(fd2, 3*kb16, []byte("tail"))
	sin := g.Inodes().New()
	if _, err := top.Symlink(c, "../f", &xlator.Loc{Parent: dir, Name: "s", Inode: sin}, 0); err != nil {
		t.Fatalf("symlink: %v", err)
	}
	sin.Unref()
	if err := top.Rename(c, &xlator.Loc{Parent: e.root(), Name: "f", Inode: in}, &xlator.Loc{Parent: dir, Name: "f2"}, 0); err != nil {
		t.Fatal(err)
	}

	e2 := &env{t: t, g: g, s: e.s, n: 2}
	for _, name := range []string{"f2", "g", "s"} {
		fin, ia, err := e2.lookup(dir, name)
		if err != nil {
			t.Fatalf("lookup d/%s: %v", name, err)
		}
		fin.DelCtx(e.s) // as after a restart
		switch name {
		case "f2":
			if ia.Size != int64(len(data)) || ia.Gfid != in.GFID() {
				t.Errorf("d/f2: size %d gfid %v", ia.Size, ia.Gfid)
			}
		case "g":
			if ia.Size != 3*kb16+4 {
				t.Errorf("d/g: size %d", ia.Size)
			}
			if got := e.mustRead(e.open(fin, syscall.O_RDONLY), 0, 1<<20); len(got) != 3*kb16+4 || string(got[3*kb16:]) != "tail" ||
				!bytes.Equal(got[:3*kb16], make([]byte, 3*kb16)) {
				t.Errorf("d/g content wrong (%d bytes)", len(got))
			}
		case "s":
			if tgt, err := top.Readlink(c, &xlator.Loc{Inode: fin}); err != nil || tgt != "../f" {
				t.Errorf("readlink: %q %v", tgt, err)
			}
		}
	}
	dfd := g.NewFD(dir, 0, 1, true)
	defer dfd.Unref()
	if err := top.Opendir(c, &xlator.Loc{Inode: dir}, dfd); err != nil {
		t.Fatal(err)
	}
	ents, err := top.Readdir(c, dfd, 0, 100, true)
	if err != nil || len(ents) != 3 {
		t.Fatalf("readdirplus: %d entries, %v", len(ents), err)
	}
	for _, d := range ents {
		if d.Name == "f2" && d.Attr.Size != int64(len(data)) {
			t.Errorf("readdirplus f2 size %d", d.Attr.Size)
		}
	}
	for _, name := range []string{"f2", "g", "s"} {
		if err := top.Unlink(c, &xlator.Loc{Parent: dir, Name: name}); err != nil {
			t.Errorf("unlink %s: %v", name, err)
		}
	}
	if err := top.Rmdir(c, &xlator.Loc{Parent: e.root(), Name: "d", Inode: dir}); err != nil {
		t.Errorf("rmdir: %v", err)
	}
	for i := range dirs {
		if _, err := os.Stat(dirs[i] + "/d"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("brick %d still has d: %v", i, err)
		}
	}
	if st := e.s.Stats(); st.Divergences != 0 || st.Rollbacks != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("geometry xattr: %v", e.s.Dump()[4])
}
