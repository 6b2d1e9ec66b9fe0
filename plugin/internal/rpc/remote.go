package rpc

import (
	"syscall"

	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// Remote implements every fop as a call of the Xlator service. Two
// translators embed it: host.Plugin (in the host, calling the plugin) and
// the SDK's proxy (in the plugin, calling the host's children). What
// differs between them — where the connection comes from and how inodes
// and fds become gfids and handles — is behind Mapper.
type Remote struct {
	xlator.Base
	Mapper Mapper
	Child  uint32 // Header.child of every request
}

// Mapper is what a remote translator supplies.
type Mapper interface {
	// client returns the connection to call, or an error (ENOTCONN) when
	// there is none.
	Client() (pb.XlatorClient, error)
	// loc converts l. A loc whose Inode field the far side must hand back
	// (an inode not linked yet) gets an inode handle; done drops it.
	Loc(l *xlator.Loc) *pb.Loc
	// fd describes fd as the far side knows it, giving it a handle if it
	// has none yet.
	FD(fd *xlator.FD) transport.FD
	// done is called after a request whose loc or fd carried an inode
	// handle.
	Done(inodeHandle uint64)
	// opened records the handle the far side answered an Open, Create or
	// Opendir with.
	Opened(fd *xlator.FD, handle uint64)
	// shm returns the shared-memory arena with a reference the caller
	// releases, or nil when there is none.
	Arena() *transport.Arena
	// dir is the ring this side's calls go through: toPlugin or toHost.
	Dir() int
}

func (r *Remote) hdr(c *xlator.Call) *pb.Header { return header(c, r.Child) }

// fdMsg describes fd to the far side.
func (r *Remote) fdMsg(fd *xlator.FD) *pb.Fd {
	d := r.Mapper.FD(fd)
	return FdMsg(&d)
}

func (r *Remote) locReq(c *xlator.Call, l *xlator.Loc) *pb.LocReq {
	return &pb.LocReq{H: r.hdr(c), Loc: r.Mapper.Loc(l)}
}

func (r *Remote) doneLoc(ls ...*pb.Loc) {
	for _, l := range ls {
		if l != nil && l.Inode != 0 {
			r.Mapper.Done(l.Inode)
		}
	}
}

func (r *Remote) doneFd(f *pb.Fd) {
	if f != nil && f.Inode != 0 {
		r.Mapper.Done(f.Inode)
	}
}

func iattRsp(rsp *pb.IattRsp) (xlator.Iatt, error) {
	if rsp.Errno != 0 {
		return xlator.Iatt{}, transport.ErrOf(rsp.Errno)
	}
	return iattFrom(rsp.Iatt), nil
}

// Lookup calls the far side.
func (r *Remote) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := r.locReq(c, loc)
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Lookup(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Stat calls the far side.
func (r *Remote) Stat(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := r.locReq(c, loc)
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Stat(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Fstat calls the far side.
func (r *Remote) Fstat(c *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	rsp, err := cl.Fstat(c.Ctx, &pb.FdReq{H: r.hdr(c), Fd: r.fdMsg(fd)})
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Setattr calls the far side.
func (r *Remote) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.SetattrReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc)}
	defer r.doneLoc(req.Loc)
	setattrTo(in, req)
	rsp, err := cl.Setattr(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Fsetattr calls the far side.
func (r *Remote) Fsetattr(c *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.SetattrReq{H: r.hdr(c), Fd: r.fdMsg(fd)}
	setattrTo(in, req)
	rsp, err := cl.Fsetattr(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Access calls the far side.
func (r *Remote) Access(c *xlator.Call, loc *xlator.Loc, mask uint32) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := &pb.AccessReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Mask: mask}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Access(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Readlink calls the far side.
func (r *Remote) Readlink(c *xlator.Call, loc *xlator.Loc) (string, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return "", err
	}
	req := r.locReq(c, loc)
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Readlink(c.Ctx, req)
	if err != nil {
		return "", transportErr(c.Ctx, err)
	}
	return rsp.Target, transport.ErrOf(rsp.Errno)
}

// Mknod calls the far side.
func (r *Remote) Mknod(c *xlator.Call, loc *xlator.Loc, mode, rdev, umask uint32) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.MknodReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Mode: mode, Rdev: rdev, Umask: umask}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Mknod(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Mkdir calls the far side.
func (r *Remote) Mkdir(c *xlator.Call, loc *xlator.Loc, mode, umask uint32) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.MkdirReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Mode: mode, Umask: umask}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Mkdir(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Unlink calls the far side.
func (r *Remote) Unlink(c *xlator.Call, loc *xlator.Loc) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := r.locReq(c, loc)
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Unlink(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Rmdir calls the far side.
func (r *Remote) Rmdir(c *xlator.Call, loc *xlator.Loc) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := r.locReq(c, loc)
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Rmdir(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Symlink calls the far side.
func (r *Remote) Symlink(c *xlator.Call, target string, loc *xlator.Loc, umask uint32) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.SymlinkReq{H: r.hdr(c), Target: target, Loc: r.Mapper.Loc(loc), Umask: umask}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Symlink(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Rename calls the far side.
func (r *Remote) Rename(c *xlator.Call, from, to *xlator.Loc, flags uint32) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := &pb.RenameReq{H: r.hdr(c), From: r.Mapper.Loc(from), To: r.Mapper.Loc(to), Flags: flags}
	defer r.doneLoc(req.From, req.To)
	rsp, err := cl.Rename(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Link calls the far side.
func (r *Remote) Link(c *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.LinkReq{H: r.hdr(c), From: r.Mapper.Loc(from), To: r.Mapper.Loc(to)}
	defer r.doneLoc(req.From, req.To)
	rsp, err := cl.Link(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	return iattRsp(rsp)
}

// Create calls the far side.
func (r *Remote) Create(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.CreateReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Flags: flags, Mode: mode, Umask: umask, Fd: r.fdMsg(fd)}
	defer r.doneLoc(req.Loc)
	defer r.doneFd(req.Fd)
	rsp, err := cl.Create(c.Ctx, req)
	if err != nil {
		return xlator.Iatt{}, transportErr(c.Ctx, err)
	}
	if rsp.Errno != 0 {
		return xlator.Iatt{}, transport.ErrOf(rsp.Errno)
	}
	r.Mapper.Opened(fd, rsp.Handle)
	return iattFrom(rsp.Iatt), nil
}

// Open calls the far side.
func (r *Remote) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := &pb.OpenReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Flags: flags, Fd: r.fdMsg(fd)}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Open(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	if rsp.Errno != 0 {
		return transport.ErrOf(rsp.Errno)
	}
	r.Mapper.Opened(fd, rsp.Handle)
	return nil
}

// Readv calls the far side, through the ring when it serves one, else by
// gRPC. Data that comes back in an arena slot is read in place; data in a
// message is copied into pool iobufs.
func (r *Remote) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return nil, err
	}
	d := r.Mapper.FD(fd)
	a := r.Mapper.Arena()
	if a != nil {
		defer a.Release()
		if ref, err, ok := a.RingReadv(c, r.Mapper.Dir(), r.Child, &d, r.Iobufs(), size, off); ok {
			return ref, err
		}
	}
	rsp, err := cl.Readv(c.Ctx, &pb.ReadvReq{H: r.hdr(c), Fd: FdMsg(&d), Size: int64(size), Off: off})
	if err != nil {
		return nil, transportErr(c.Ctx, err)
	}
	if rsp.Errno != 0 {
		return nil, transport.ErrOf(rsp.Errno)
	}
	if s := rsp.Shm; s != nil {
		// The far side handed over its reference on the slot with the
		// reply: the data is read in place, the slot freed when the
		// caller lets go of it.
		ref, ok := a.Borrow(r.Iobufs(), s.Slot, s.Len, false)
		if !ok {
			return nil, syscall.EIO
		}
		return ref, nil
	}
	return iobrefOf(r.Iobufs(), rsp.Iov), nil
}

// Writev calls the far side with the data in an arena slot, through the
// ring when the far side serves one, else by gRPC; or with data's segments
// in the message.
func (r *Remote) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return 0, err
	}
	d := r.Mapper.FD(fd)
	var shm *pb.Shm
	a := r.Mapper.Arena()
	if a != nil {
		defer a.Release()
		if hoff, ok := a.HostOffset(data); ok {
			if n, err, ok := a.RingWritevHost(c, r.Mapper.Dir(), r.Child, &d, data, hoff, off); ok {
				return n, err
			}
		}
		least := transport.ShmMin
		if a.Serves(r.Mapper.Dir()) {
			least = 1 // through the ring, small writes go in a slot too
		}
		if slot, ok := a.DataSlot(data, least); ok {
			if n, err, ok := a.RingWritev(c, r.Mapper.Dir(), r.Child, &d, slot, data.Size(), off); ok {
				return n, err
			}
			shm = &pb.Shm{Slot: slot, Len: uint32(data.Size())}
		}
	}
	req := &pb.WritevReq{H: r.hdr(c), Fd: FdMsg(&d), Off: off, Shm: shm}
	var iov [8][]byte
	if req.Shm == nil {
		req.Iov = data.AppendIov(iov[:0])
	}
	rsp, err := cl.Writev(c.Ctx, req)
	if err != nil {
		// The far side may still be reading the slot: it is not freed
		// (a dead plugin's arena goes with it).
		return 0, transportErr(c.Ctx, err)
	}
	if req.Shm != nil {
		a.Drop(req.Shm.Slot) // the far side holds its own if it kept the data
	}
	return int(rsp.N), transport.ErrOf(rsp.Errno)
}

// Flush calls the far side.
func (r *Remote) Flush(c *xlator.Call, fd *xlator.FD) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	rsp, err := cl.Flush(c.Ctx, &pb.FdReq{H: r.hdr(c), Fd: r.fdMsg(fd)})
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Fsync calls the far side.
func (r *Remote) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	rsp, err := cl.Fsync(c.Ctx, &pb.FsyncReq{H: r.hdr(c), Fd: r.fdMsg(fd), Datasync: datasync})
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Opendir calls the far side.
func (r *Remote) Opendir(c *xlator.Call, loc *xlator.Loc, fd *xlator.FD) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := &pb.OpenReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Fd: r.fdMsg(fd)}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Opendir(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	if rsp.Errno != 0 {
		return transport.ErrOf(rsp.Errno)
	}
	r.Mapper.Opened(fd, rsp.Handle)
	return nil
}

// Readdir calls the far side.
func (r *Remote) Readdir(c *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return nil, err
	}
	rsp, err := cl.Readdir(c.Ctx, &pb.ReaddirReq{H: r.hdr(c), Fd: r.fdMsg(fd), Off: off, Count: int64(count), Plus: plus})
	if err != nil {
		return nil, transportErr(c.Ctx, err)
	}
	if rsp.Errno != 0 {
		return nil, transport.ErrOf(rsp.Errno)
	}
	return direntsFrom(rsp.Entries), nil
}

// Fsyncdir calls the far side.
func (r *Remote) Fsyncdir(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	rsp, err := cl.Fsyncdir(c.Ctx, &pb.FsyncReq{H: r.hdr(c), Fd: r.fdMsg(fd), Datasync: datasync})
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Statfs calls the far side.
func (r *Remote) Statfs(c *xlator.Call, loc *xlator.Loc) (xlator.Statvfs, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Statvfs{}, err
	}
	req := r.locReq(c, loc)
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Statfs(c.Ctx, req)
	if err != nil {
		return xlator.Statvfs{}, transportErr(c.Ctx, err)
	}
	if rsp.Errno != 0 {
		return xlator.Statvfs{}, transport.ErrOf(rsp.Errno)
	}
	return statvfsFrom(rsp.St), nil
}

// Setxattr calls the far side.
func (r *Remote) Setxattr(c *xlator.Call, loc *xlator.Loc, name string, value []byte, flags uint32) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := &pb.SetxattrReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Name: name, Value: value, Flags: flags}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Setxattr(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Getxattr calls the far side.
func (r *Remote) Getxattr(c *xlator.Call, loc *xlator.Loc, name string) ([]byte, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return nil, err
	}
	req := &pb.XattrReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Name: name}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Getxattr(c.Ctx, req)
	if err != nil {
		return nil, transportErr(c.Ctx, err)
	}
	if rsp.Errno != 0 {
		return nil, transport.ErrOf(rsp.Errno)
	}
	if rsp.Value == nil {
		return []byte{}, nil
	}
	return rsp.Value, nil
}

// Listxattr calls the far side.
func (r *Remote) Listxattr(c *xlator.Call, loc *xlator.Loc) ([]string, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return nil, err
	}
	req := r.locReq(c, loc)
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Listxattr(c.Ctx, req)
	if err != nil {
		return nil, transportErr(c.Ctx, err)
	}
	return rsp.Names, transport.ErrOf(rsp.Errno)
}

// Removexattr calls the far side.
func (r *Remote) Removexattr(c *xlator.Call, loc *xlator.Loc, name string) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	req := &pb.XattrReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Name: name}
	defer r.doneLoc(req.Loc)
	rsp, err := cl.Removexattr(c.Ctx, req)
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Fallocate calls the far side.
func (r *Remote) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	rsp, err := cl.Fallocate(c.Ctx, &pb.RangeReq{H: r.hdr(c), Fd: r.fdMsg(fd), Mode: mode, Off: off, Length: length})
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Discard calls the far side.
func (r *Remote) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	rsp, err := cl.Discard(c.Ctx, &pb.RangeReq{H: r.hdr(c), Fd: r.fdMsg(fd), Off: off, Length: length})
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// Zerofill calls the far side.
func (r *Remote) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	cl, err := r.Mapper.Client()
	if err != nil {
		return err
	}
	rsp, err := cl.Zerofill(c.Ctx, &pb.RangeReq{H: r.hdr(c), Fd: r.fdMsg(fd), Off: off, Length: length})
	if err != nil {
		return transportErr(c.Ctx, err)
	}
	return transport.ErrOf(rsp.Errno)
}

// iobrefOf copies received segments into pool iobufs: the one copy a
// receiver makes, since the message's bytes live on the Go heap.
func iobrefOf(pool *iobuf.Pool, iov [][]byte) *iobuf.Iobref {
	if len(iov) == 1 {
		return pool.FromBytes(iov[0])
	}
	ref := pool.NewIobref()
	for _, seg := range iov {
		if len(seg) == 0 {
			continue
		}
		r := pool.FromBytes(seg)
		ref.Merge(r)
		r.Unref()
	}
	return ref
}
