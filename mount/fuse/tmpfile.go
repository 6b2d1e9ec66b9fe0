package fuse

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// tmpfileOnly are the open flags that only say "O_TMPFILE" (it is
// __O_TMPFILE|O_DIRECTORY) or that the kernel adds to a TMPFILE request;
// the graph gets the flags of the file opened.
const tmpfileOnly = unix.O_TMPFILE | syscall.O_CREAT

// Tmpfile answers open(2) with O_TMPFILE in the directory in.NodeId: an
// unnamed regular file, opened, as CREATE answers a named one. The reply
// names a new node that the table links by gfid alone; linkat(2) of the
// file with AT_EMPTY_PATH then arrives as a LINK of that node, which the
// graph's Link answers (xlator.Fops.Tmpfile). A graph that cannot make
// one answers ENOSYS, after which the kernel answers every O_TMPFILE
// open EOPNOTSUPP itself. The file's data takes the normal path, never
// passthrough.
func (b *bridge) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	p := b.node(in.NodeId)
	if p == nil {
		return b.refuse(opTmpfile, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opTmpfile, xlator.FopTmpfile, &in.InHeader, cancel)
	defer c.Done()
	flags := b.graphFlags(in.Flags &^ tmpfileOnly)
	ino := b.tab.New()
	defer ino.Unref()
	fd := b.g.NewFD(ino, openFlags(flags), in.Pid, false)
	ia, err := b.top.Tmpfile(c, &xlator.Loc{Parent: p.in, Inode: ino}, flags, in.Mode, in.Umask, fd)
	if err != nil || ia.Gfid.IsZero() {
		fd.Unref()
		if err == nil {
			err = syscall.EIO
		}
		return b.fail(opTmpfile, err)
	}
	linked, n := b.entry(ino, nil, "", &ia, &out.EntryOut)
	if linked != ino { // a bottom that reused a gfid the table knows
		fd.Inode = linked.Ref()
		ino.Unref()
	}
	n.keepCache(&ia)
	n.privClean.Store(ia.Mode&suidSgid == 0) // new: no capability
	// Not passthrough: the file's data takes the normal path, which every
	// kernel's TMPFILE reply supports.
	out.OpenOut.Fh = b.handles.add(&handle{fd: fd, node: n})
	return fuse.OK
}
