package fuse

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// Linux fallocate(2) mode bits beyond the ones xlator names.
const (
	fallocCollapseRange = 0x08
	fallocInsertRange   = 0x20
	fallocUnshareRange  = 0x40
)

// graphFlags returns the open flags a file is opened with in the graph.
// With the writeback cache the kernel reads pages of a file opened
// write-only (to fill a partly written page) and does O_APPEND itself, so
// such files are opened read-write and without O_APPEND.
func (b *bridge) graphFlags(f uint32) uint32 {
	if b.writeback {
		if f&syscall.O_ACCMODE == syscall.O_WRONLY {
			f = f&^syscall.O_ACCMODE | syscall.O_RDWR
		}
		f &^= syscall.O_APPEND
	}
	return f
}

// openFlags are the flags an fd keeps: the access mode and the flags that
// change how IO behaves, not the ones only open(2) itself acts on.
func openFlags(f uint32) uint32 {
	return f &^ (syscall.O_CREAT | syscall.O_EXCL | syscall.O_NOCTTY | syscall.O_TRUNC)
}

// Create creates and opens name in the directory in.NodeId.
func (b *bridge) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	if st := checkName(name); !st.Ok() {
		return b.refuse(opCreate, st)
	}
	p := b.node(in.NodeId)
	if p == nil {
		return b.refuse(opCreate, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opCreate, xlator.FopCreate, &in.InHeader, cancel)
	defer c.Done()
	ino := b.tab.New()
	defer ino.Unref()
	flags := b.graphFlags(in.Flags)
	fd := b.g.NewFD(ino, openFlags(flags), in.Pid, false)
	ia, err := b.top.Create(c, &xlator.Loc{Parent: p.in, Name: name, Inode: ino}, flags, in.Mode, in.Umask, fd)
	if err != nil || ia.Gfid.IsZero() {
		fd.Unref()
		if err == nil {
			err = syscall.EIO
		}
		return b.fail(opCreate, err)
	}
	linked, n := b.entry(ino, p.in, name, &ia, &out.EntryOut)
	if linked != ino {
		// The name existed (no O_EXCL) and the table already knew its
		// GFID: the fd must carry the table's inode.
		fd.Inode = linked.Ref()
		ino.Unref()
	}
	n.keepCache(&ia) // remember this open's view; a new file has no cache to keep
	if in.Flags&syscall.O_EXCL != 0 && ia.Mode&suidSgid == 0 {
		n.privClean.Store(true) // new: no bits, no capability
	} else if in.Flags&syscall.O_TRUNC != 0 {
		// The name may have existed and been truncated.
		b.dropPrivs(&in.InHeader, n, fd, in.OpenFlags&fuse.OPEN_KILL_SUIDGID != 0)
	}
	hd := &handle{fd: fd, node: n}
	if id, ok := b.passthroughOpen(n, fd); ok {
		hd.passthrough = true
		out.OpenOut.OpenFlags |= fuse.FOPEN_PASSTHROUGH
		out.OpenOut.BackingID = id
	}
	out.OpenOut.Fh = b.handles.add(hd)
	return fuse.OK
}

// Open opens a file. It asks FOPEN_KEEP_CACHE when the file is unchanged
// since the previous open through this mount.
func (b *bridge) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := b.node(in.NodeId)
	if n == nil {
		return b.refuse(opOpen, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opOpen, xlator.FopOpen, &in.InHeader, cancel)
	defer c.Done()
	flags := b.graphFlags(in.Flags)
	fd := b.g.NewFD(n.in, openFlags(flags), in.Pid, false)
	if err := b.top.Open(c, &xlator.Loc{Inode: n.in}, flags, fd); err != nil {
		fd.Unref()
		return b.fail(opOpen, err)
	}
	if in.Flags&syscall.O_TRUNC != 0 {
		n.dirty.Store(true)
		b.dropPrivs(&in.InHeader, n, fd, in.Mode&fuse.OPEN_KILL_SUIDGID != 0)
	}
	hd := &handle{fd: fd, node: n}
	if id, ok := b.passthroughOpen(n, fd); ok {
		hd.passthrough = true
		out.OpenFlags |= fuse.FOPEN_PASSTHROUGH
		out.BackingID = id
	} else if ia, err := b.top.Fstat(c, fd); err == nil && b.keepCache(n, &ia, in.Flags) {
		out.OpenFlags |= fuse.FOPEN_KEEP_CACHE
	}
	out.Fh = b.handles.add(hd)
	return fuse.OK
}

func (b *bridge) keepCache(n *node, ia *xlator.Iatt, flags uint32) bool {
	keep := n.keepCache(ia)
	return keep && flags&syscall.O_TRUNC == 0
}

// Read reads through Readv and hands the iobref to go-fuse without a copy.
func (b *bridge) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return nil, b.refuse(opRead, fuse.EBADF)
	}
	c := b.begin(opRead, xlator.FopReadv, &in.InHeader, cancel)
	defer c.Done() // even when a translator panics
	ref, err := b.top.Readv(c, hd.fd, int(in.Size), int64(in.Offset))
	if err != nil {
		if ref != nil {
			ref.Unref()
		}
		return nil, b.fail(opRead, err)
	}
	if ref == nil {
		return emptyRead, fuse.OK
	}
	if ref.Size() > int(in.Size) {
		ref.Truncate(int(in.Size)) // a translator's bug must not overrun the kernel's buffer
	}
	b.stats.bytesRead.Add(uint64(ref.Size()))
	if ref.Size() == 0 {
		// go-fuse never calls Done on an empty result.
		ref.Unref()
		return emptyRead, fuse.OK
	}
	return newReadResult(ref), fuse.OK
}

// Writev serves every WRITE (go-fuse tries it before Write). It copies
// the request's data once into pooled iobufs, since go-fuse reuses its
// buffer after we return, and lends them to the graph's Writev.
func (b *bridge) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return 0, b.refuse(opWrite, fuse.EBADF)
	}
	b.dropPrivs(&in.InHeader, hd.node, hd.fd, in.WriteFlags&fuse.WRITE_KILL_SUIDGID != 0)
	ref := b.copyIn(data)
	defer ref.Unref() // even when a translator panics
	c := b.begin(opWrite, xlator.FopWritev, &in.InHeader, cancel)
	defer c.Done()
	n, err := b.top.Writev(c, hd.fd, ref, int64(in.Offset))
	hd.node.dirty.Store(true)
	if n > 0 {
		b.stats.bytesWritten.Add(uint64(n))
	}
	if err != nil {
		if n > 0 {
			// The kernel takes a short count as progress; the error
			// comes back on the retry of the rest.
			return uint32(n), fuse.OK
		}
		return 0, b.fail(opWrite, err)
	}
	return uint32(n), fuse.OK
}

// copyIn copies an iovec into iobufs of at most the pool's largest class.
func (b *bridge) copyIn(data [][]byte) *iobuf.Iobref {
	total := 0
	for _, d := range data {
		total += len(d)
	}
	ref := b.iobufs.NewIobref()
	for total > 0 {
		n := min(total, b.chunk)
		buf := b.iobufs.Get(n)
		dst := buf.Bytes()[:n]
		for len(dst) > 0 {
			k := copy(dst, data[0])
			dst = dst[k:]
			if data[0] = data[0][k:]; len(data[0]) == 0 {
				data = data[1:]
			}
		}
		ref.AddRange(buf, 0, n)
		buf.Unref() // the iobref holds its own reference
		total -= n
	}
	return ref
}

// Flush is close(2) of one file descriptor.
func (b *bridge) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(opFlush, fuse.EBADF)
	}
	c := b.begin(opFlush, xlator.FopFlush, &in.InHeader, cancel)
	defer c.Done()
	c.LkOwner = in.LockOwner // its fcntl locks go with the close
	if err := b.top.Flush(c, hd.fd); err != nil {
		return b.fail(opFlush, err)
	}
	return fuse.OK
}

// Release is the last close of an open file: the handle's fd reference
// goes, and with it (once translators drop theirs) the fd.
func (b *bridge) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	b.stats.ops[opRelease].count.Add(1)
	if hd := b.handles.remove(in.Fh); hd != nil {
		if hd.passthrough {
			b.passthroughRelease(hd.node)
		}
		hd.fd.Unref()
	} else {
		b.stats.ops[opRelease].errors.Add(1)
	}
}

// Fsync makes an open file durable (FSYNC_FDATASYNC: data only).
func (b *bridge) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(opFsync, fuse.EBADF)
	}
	c := b.begin(opFsync, xlator.FopFsync, &in.InHeader, cancel)
	defer c.Done()
	if err := b.top.Fsync(c, hd.fd, in.FsyncFlags&1 != 0); err != nil {
		return b.fail(opFsync, err)
	}
	return fuse.OK
}

// Fallocate maps fallocate(2) as GlusterFS's bridge does: punching a hole
// is a Discard, every other supported mode a Fallocate carrying the mode.
func (b *bridge) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(opFallocate, fuse.EBADF)
	}
	if in.Mode&(fallocCollapseRange|fallocInsertRange|fallocUnshareRange) != 0 {
		return b.refuse(opFallocate, fuse.Status(syscall.EOPNOTSUPP))
	}
	if in.Offset > 1<<63-1 || in.Length > 1<<63-1-in.Offset {
		return b.refuse(opFallocate, fuse.Status(syscall.EFBIG))
	}
	off, length := int64(in.Offset), int64(in.Length)
	// Which caller lacks CAP_FSETID FALLOCATE does not say: only the
	// capability goes, as for a privileged writer.
	b.dropPrivs(&in.InHeader, hd.node, hd.fd, false)
	var err error
	if in.Mode&xlator.FallocPunchHole != 0 {
		if in.Mode&xlator.FallocKeepSize == 0 {
			return b.refuse(opFallocate, fuse.EINVAL) // as fallocate(2) requires
		}
		c := b.begin(opFallocate, xlator.FopDiscard, &in.InHeader, cancel)
		defer c.Done()
		err = b.top.Discard(c, hd.fd, off, length)
	} else {
		c := b.begin(opFallocate, xlator.FopFallocate, &in.InHeader, cancel)
		defer c.Done()
		err = b.top.Fallocate(c, hd.fd, in.Mode, off, length)
	}
	if err != nil {
		return b.fail(opFallocate, err)
	}
	hd.node.dirty.Store(true)
	return fuse.OK
}

// Lseek answers SEEK_DATA and SEEK_HOLE, the only whence values the
// kernel sends (it does SEEK_SET, SEEK_CUR and SEEK_END itself). ENOSYS
// from the graph (a translator that cannot tell) tells the kernel to stop
// asking and take the whole file as data.
func (b *bridge) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(opLseek, fuse.EBADF)
	}
	if in.Offset > 1<<63-1 {
		return b.refuse(opLseek, fuse.Status(syscall.ENXIO))
	}
	c := b.begin(opLseek, xlator.FopLseek, &in.InHeader, cancel)
	defer c.Done()
	off, err := b.top.Lseek(c, hd.fd, int64(in.Offset), in.Whence)
	if err != nil {
		return b.fail(opLseek, err)
	}
	out.Offset = uint64(off)
	return fuse.OK
}

// maxCopy bounds one COPY_FILE_RANGE: its reply's count is 32 bits (the
// kernel asks no more than this either).
const maxCopy = 1<<32 - 1<<12

// CopyFileRange serves copy_file_range(2) between two files of this mount
// (the kernel never sends one across mounts, and has checked the
// arguments) with the graph's CopyFileRange, so the bytes need not come
// up to the kernel and back: a posix brick copies them in its own
// kernel. A short count is passed on as the system call's. The kernel
// drops its pages of the destination range when the reply comes; the
// destination counts as written through this mount (no keep-cache at its
// next open, TestCopyFileRangeMount) and loses its file capability, as
// with FALLOCATE (the kernel asks for that too, before it sends the
// copy); the bridge clears no set-ID bits itself, since the request does
// not say whether the caller may keep them. The graph never answers ENOSYS (it copies by readv and
// writev instead), which matters: an ENOSYS reply makes the kernel stop
// sending COPY_FILE_RANGE for the rest of the mount's life.
func (b *bridge) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	src, dst := b.handles.get(in.FhIn), b.handles.get(in.FhOut)
	if src == nil || dst == nil {
		return 0, b.refuse(opCopyFileRange, fuse.EBADF)
	}
	if in.Flags != 0 || in.OffIn > 1<<63-1 || in.OffOut > 1<<63-1 {
		return 0, b.refuse(opCopyFileRange, fuse.EINVAL)
	}
	b.dropPrivs(&in.InHeader, dst.node, dst.fd, false)
	c := b.begin(opCopyFileRange, xlator.FopCopyFileRange, &in.InHeader, cancel)
	defer c.Done()
	n, err := b.top.CopyFileRange(c, src.fd, int64(in.OffIn), dst.fd, int64(in.OffOut), int64(min(in.Len, maxCopy)), 0)
	dst.node.dirty.Store(true)
	if err != nil {
		return 0, b.fail(opCopyFileRange, err)
	}
	return uint32(n), fuse.OK
}
