package api

import (
	"io/fs"
	"os"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// Tmpfile creates an unnamed regular file in the directory dir, opened
// with flag (os.O_WRONLY or os.O_RDWR, and os.O_EXCL), mode perm before
// the umask, as open(2) with O_TMPFILE does. The file is in no directory
// and is gone when it is closed, unless File.Link gives it a name first;
// with O_EXCL it can never be linked. Its Name is "". A graph that cannot
// make one (a plugin's, for now) fails with EOPNOTSUPP.
func (v *Volume) Tmpfile(dir string, flag int, perm fs.FileMode) (*File, error) {
	c := v.begin(xlator.FopTmpfile)
	defer c.Done()
	parts, err := split(dir)
	if err != nil {
		return nil, v.pathErr("tmpfile", dir, err)
	}
	parent, ia, err := v.resolve(c, parts)
	if err != nil {
		return nil, v.pathErr("tmpfile", dir, err)
	}
	defer parent.Unref()
	if !ia.IsDir() {
		return nil, v.pathErr("tmpfile", dir, syscall.ENOTDIR)
	}
	flags := uint32(flag) &^ uint32(os.O_CREATE)
	tab := v.g.Inodes()
	in := tab.New()
	defer in.Unref()
	fd := v.g.NewFD(in, flags&^uint32(os.O_EXCL), v.creds.Pid, false)
	ia, err = v.g.Top().Tmpfile(c, &xlator.Loc{Parent: parent, Inode: in}, flags, uint32(perm.Perm())|modeExtra(perm), v.umask.Load(), fd)
	if err != nil {
		fd.Unref()
		if err == syscall.ENOSYS {
			err = syscall.EOPNOTSUPP // as open(2) on a file system without O_TMPFILE
		}
		return nil, v.pathErr("tmpfile", dir, err)
	}
	tab.Link(in, nil, "", &ia).Unref()
	return v.newFile("", fd, false), nil
}

// Link gives the open file the name newname, as linkat(2) of its file
// descriptor with AT_EMPTY_PATH: the way to name a file made by Tmpfile
// (ENOENT for one made with O_EXCL), and one more hard link for any
// other open file.
func (f *File) Link(newname string) error {
	c := f.v.begin(xlator.FopLink)
	defer c.Done()
	parent, base, err := f.v.resolveParent(c, newname)
	if err != nil {
		return f.v.pathErr("link", newname, err)
	}
	defer parent.Unref()
	in := f.fd.Inode
	ia, err := f.v.g.Top().Link(c, &xlator.Loc{Inode: in}, &xlator.Loc{Parent: parent, Name: base})
	if err != nil {
		return f.v.pathErr("link", newname, err)
	}
	f.v.g.Inodes().Link(in, parent, base, &ia).Unref()
	return nil
}
