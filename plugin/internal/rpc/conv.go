package rpc

import (
	"context"
	"errors"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// Conversions between the xlator types and their protocol messages.

// FdMsg is the message gRPC carries for d.
func FdMsg(d *transport.FD) *pb.Fd {
	return &pb.Fd{Handle: d.Handle, Gfid: GfidBytes(d.Gfid), Type: d.Type, Flags: d.Flags, Pid: d.Pid, Dir: d.Dir, Inode: d.Inode}
}

func GfidBytes(g xlator.GFID) []byte {
	if g.IsZero() {
		return nil
	}
	b := make([]byte, 16)
	copy(b, g[:])
	return b
}

func GfidOf(b []byte) xlator.GFID {
	var g xlator.GFID
	copy(g[:], b)
	return g
}

func tsTo(t xlator.Timespec) *pb.Timespec { return &pb.Timespec{Sec: t.Sec, Nsec: t.Nsec} }

func tsFrom(t *pb.Timespec) xlator.Timespec {
	if t == nil {
		return xlator.Timespec{}
	}
	return xlator.Timespec{Sec: t.Sec, Nsec: t.Nsec}
}

func iattTo(a *xlator.Iatt) *pb.Iatt {
	return &pb.Iatt{Gfid: GfidBytes(a.Gfid), Ino: a.Ino, Dev: a.Dev, Mode: a.Mode, Nlink: a.Nlink,
		Uid: a.Uid, Gid: a.Gid, Rdev: a.Rdev, Size: a.Size, Blksize: a.Blksize, Blocks: a.Blocks,
		Atime: tsTo(a.Atime), Mtime: tsTo(a.Mtime), Ctime: tsTo(a.Ctime), Btime: btimeTo(a), Mask: a.Mask}
}

// btimeTo is the birth time's message, nil when there is none (one
// allocation fewer for every file of a brick without birth times).
func btimeTo(a *xlator.Iatt) *pb.Timespec {
	if !a.HasBtime() && a.Btime == (xlator.Timespec{}) {
		return nil
	}
	return tsTo(a.Btime)
}

func iattFrom(a *pb.Iatt) xlator.Iatt {
	if a == nil {
		return xlator.Iatt{}
	}
	return xlator.Iatt{Gfid: GfidOf(a.Gfid), Ino: a.Ino, Dev: a.Dev, Mode: a.Mode, Nlink: a.Nlink,
		Uid: a.Uid, Gid: a.Gid, Rdev: a.Rdev, Size: a.Size, Blksize: a.Blksize, Blocks: a.Blocks,
		Atime: tsFrom(a.Atime), Mtime: tsFrom(a.Mtime), Ctime: tsFrom(a.Ctime), Btime: tsFrom(a.Btime), Mask: a.Mask}
}

func statvfsTo(s *xlator.Statvfs) *pb.Statvfs {
	return &pb.Statvfs{Bsize: s.Bsize, Frsize: s.Frsize, Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail,
		Files: s.Files, Ffree: s.Ffree, Favail: s.Favail, Namemax: s.Namemax, Fsid: s.Fsid}
}

func statvfsFrom(s *pb.Statvfs) xlator.Statvfs {
	if s == nil {
		return xlator.Statvfs{}
	}
	return xlator.Statvfs{Bsize: s.Bsize, Frsize: s.Frsize, Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail,
		Files: s.Files, Ffree: s.Ffree, Favail: s.Favail, Namemax: s.Namemax, Fsid: s.Fsid}
}

func direntsTo(ds []xlator.Dirent, plus bool) []*pb.Dirent {
	out := make([]*pb.Dirent, len(ds))
	for i := range ds {
		d := &ds[i]
		out[i] = &pb.Dirent{Name: d.Name, Ino: d.Ino, Type: d.Type, Off: d.Off}
		if plus {
			out[i].Attr = iattTo(&d.Attr)
		}
	}
	return out
}

func direntsFrom(ds []*pb.Dirent) []xlator.Dirent {
	out := make([]xlator.Dirent, len(ds))
	for i, d := range ds {
		out[i] = xlator.Dirent{Name: d.Name, Ino: d.Ino, Type: d.Type, Off: d.Off, Attr: iattFrom(d.Attr)}
	}
	return out
}

func setattrTo(in *xlator.SetattrIn, r *pb.SetattrReq) {
	r.Valid, r.Mode, r.Uid, r.Gid, r.Size = in.Valid, in.Mode, in.Uid, in.Gid, in.Size
	r.Atime, r.Mtime = tsTo(in.Atime), tsTo(in.Mtime)
}

func setattrFrom(r *pb.SetattrReq) *xlator.SetattrIn {
	return &xlator.SetattrIn{Valid: r.Valid, Mode: r.Mode, Uid: r.Uid, Gid: r.Gid, Size: r.Size,
		Atime: tsFrom(r.Atime), Mtime: tsFrom(r.Mtime)}
}

// bytesFrom is a byte-slice result as received: never nil on success
// (an empty xattr value is a value), as it is from a local translator.
func bytesFrom(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// errnoOf turns a fop error into the errno a reply carries: the
// syscall.Errno it is or wraps, EIO for anything else.
func errnoOf(err error) uint32 {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return uint32(e)
	}
	return uint32(syscall.EIO)
}

// transportErr turns a failed RPC into a fop error: the caller's own
// cancellation stays a cancellation, anything else means the far side is
// not there (ENOTCONN), which is what a dead plugin looks like.
func transportErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return transport.ContextErr(ctx)
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		return syscall.ETIMEDOUT
	case codes.ResourceExhausted:
		return syscall.E2BIG
	case codes.Unimplemented:
		// A peer of an older protocol version, without the method.
		return syscall.ENOSYS
	}
	return syscall.ENOTCONN
}

func credsOf(h *pb.Header) xlator.Creds {
	if h == nil {
		return xlator.Creds{}
	}
	return xlator.Creds{Uid: h.Uid, Gid: h.Gid, Groups: h.Groups, Pid: h.Pid, LkOwner: h.LkOwner}
}

func header(c *xlator.Call, child uint32) *pb.Header {
	return &pb.Header{Uid: c.Uid, Gid: c.Gid, Groups: c.Groups, Pid: c.Pid, LkOwner: c.LkOwner, Unique: c.Unique, Child: child}
}

// flockTo converts a lock for the wire.
func flockTo(l *xlator.Flock) *pb.Flock {
	return &pb.Flock{Type: l.Type, Start: l.Start, End: l.End, Pid: l.Pid, Whole: l.Whole}
}

// flockFrom converts a lock from the wire; a missing one is the zero lock
// (a read lock of byte 0), which the graph's checks take as any other.
func flockFrom(l *pb.Flock) xlator.Flock {
	if l == nil {
		return xlator.Flock{}
	}
	return xlator.Flock{Type: l.Type, Start: l.Start, End: l.End, Pid: l.Pid, Whole: l.Whole}
}

// Option schemas and values.

func SchemaTo(s xlator.Schema) []*pb.Option {
	out := make([]*pb.Option, len(s))
	for i, o := range s {
		out[i] = &pb.Option{Name: o.Name, Kind: int32(o.Kind), Default: o.Default, Min: o.Min, Max: o.Max,
			Enum: o.Enum, Required: o.Required, Doc: o.Doc}
	}
	return out
}

func SchemaFrom(os []*pb.Option) xlator.Schema {
	out := make(xlator.Schema, len(os))
	for i, o := range os {
		out[i] = xlator.Option{Name: o.Name, Kind: xlator.Kind(o.Kind), Default: o.Default, Min: o.Min, Max: o.Max,
			Enum: o.Enum, Required: o.Required, Doc: o.Doc}
	}
	return out
}

func OptionsTo(o xlator.Options) []*pb.Value {
	var out []*pb.Value
	for _, n := range o.Names() {
		v, _ := o.Get(n)
		pv := &pb.Value{Name: n, Kind: int32(v.Kind), Str: v.Str, Bool: v.Bool, Int: v.Int, Explicit: o.IsSet(n)}
		for _, k := range v.Order {
			pv.Keys = append(pv.Keys, k)
			pv.Values = append(pv.Values, v.Map[k])
		}
		out = append(out, pv)
	}
	return out
}

func OptionsFrom(vs []*pb.Value) xlator.Options {
	o := xlator.NewOptions()
	for _, pv := range vs {
		v := xlator.Value{Kind: xlator.Kind(pv.Kind), Str: pv.Str, Bool: pv.Bool, Int: pv.Int}
		if v.Kind == xlator.KindSizeMap || v.Kind == xlator.KindIntMap {
			v.Map = map[string]int64{}
			for i, k := range pv.Keys {
				if i < len(pv.Values) {
					v.Map[k] = pv.Values[i]
					v.Order = append(v.Order, k)
				}
			}
		}
		o.Set(pv.Name, v, pv.Explicit)
	}
	return o
}
