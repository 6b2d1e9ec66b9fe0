package rpc

import (
	"context"
	"syscall"

	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"google.golang.org/grpc"
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

// Create calls the far side.
func (r *Remote) Create(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	return r.create(c, pb.XlatorClient.Create, loc, flags, mode, umask, fd)
}

// Tmpfile calls the far side, as Create does.
func (r *Remote) Tmpfile(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	return r.create(c, pb.XlatorClient.Tmpfile, loc, flags, mode, umask, fd)
}

// create makes a file through method (Create or Tmpfile) and records the
// far side's handle of its fd.
func (r *Remote) create(c *xlator.Call, method func(pb.XlatorClient, context.Context, *pb.CreateReq, ...grpc.CallOption) (*pb.OpenRsp, error),
	loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	cl, err := r.Mapper.Client()
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := &pb.CreateReq{H: r.hdr(c), Loc: r.Mapper.Loc(loc), Flags: flags, Mode: mode, Umask: umask, Fd: r.fdMsg(fd)}
	defer r.doneLoc(req.Loc)
	defer r.doneFd(req.Fd)
	rsp, err := method(cl, c.Ctx, req)
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
