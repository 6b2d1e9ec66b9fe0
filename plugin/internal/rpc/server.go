package rpc

import (
	"context"
	"sync"
	"syscall"

	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// Server serves the Xlator service over translators of a local graph: the
// plugin's translator (in the plugin) or the host's children (the host's
// callback service). It turns gfids back into inodes of the local table and
// handles into fds; what differs between the two sides is behind endpoint.
type Server struct {
	pb.UnimplementedXlatorServer
	ep Endpoint
}

// NewServer returns a server of the Xlator service over ep's graph.
func NewServer(ep Endpoint) *Server { return &Server{ep: ep} }

// Endpoint is one side's part of serving requests.
type Endpoint interface {
	// Graph returns the local graph, or nil when it is not running.
	Graph() *xlator.Graph
	// Target returns the translator a request is for.
	Target(h *pb.Header) (xlator.Xlator, error)
	// NewInode returns an inode, with a reference, for a loc that names
	// no gfid; handle is the caller's inode handle (0 for none).
	NewInode(g *xlator.Graph, handle uint64) *xlator.Inode
	// FD returns the fd a request names, with a reference. in is the
	// inode of an Open, Create or Opendir (nil for other fops).
	FD(g *xlator.Graph, pf *pb.Fd, in *xlator.Inode) (*xlator.FD, error)
	// Opened is called after a successful Open, Create or Opendir and
	// returns the handle for the reply.
	Opened(fd *xlator.FD, pf *pb.Fd) uint64
	// Linked is called for every inode a request made known.
	Linked(in *xlator.Inode)
	// FrontEnd reports whether this side keeps its table's names in step
	// with unlink and rename, as a front end does (the plugin); the host's
	// front end does that for the host's table.
	FrontEnd() bool
	// Release drops the handle h of an fd the far side released.
	Release(h uint64, dir bool)
	// Forget drops this side's hold on the inodes the far side forgot.
	Forget(gfids [][]byte)
	// Arena returns the shared-memory arena with a reference the caller
	// releases, or nil.
	Arena() *transport.Arena
}

// req is the state of one request being served.
type req struct {
	g    *xlator.Graph
	x    xlator.Xlator
	c    *xlator.Call
	refs []*xlator.Inode
	fds  []*xlator.FD
}

func (s *Server) begin(ctx context.Context, fop xlator.Fop, h *pb.Header) (*req, uint32) {
	g := s.ep.Graph()
	if g == nil {
		return nil, uint32(syscall.ENOTCONN)
	}
	x, err := s.ep.Target(h)
	if err != nil {
		return nil, errnoOf(err)
	}
	var unique uint64
	if h != nil {
		unique = h.Unique
	}
	r := reqs.Get().(*req)
	r.g, r.x, r.c = g, x, g.Calls().Begin(ctx, fop, credsOf(h), unique)
	return r, 0
}

// reqs recycles requests: a fop through the ring allocates nothing.
var reqs = sync.Pool{New: func() any { return new(req) }}

// end drops what the request took and recycles it; r must not be used
// after.
func (r *req) end() {
	for i, in := range r.refs {
		in.Unref()
		r.refs[i] = nil
	}
	for i, fd := range r.fds {
		fd.Unref()
		r.fds[i] = nil
	}
	r.c.Done()
	r.g, r.x, r.c, r.refs, r.fds = nil, nil, nil, r.refs[:0], r.fds[:0]
	reqs.Put(r)
}

// inode returns the inode with gfid g in the local table, linking it
// without a name if the table does not know it.
func (s *Server) inode(r *req, g xlator.GFID, typ uint32) *xlator.Inode {
	t := r.g.Inodes()
	in := t.Find(g)
	if in == nil {
		ia := xlator.Iatt{Gfid: g, Mode: typ}
		in = t.Link(nil, nil, "", &ia)
		s.ep.Linked(in)
	}
	r.refs = append(r.refs, in)
	return in
}

func (s *Server) loc(r *req, pl *pb.Loc) xlator.Loc {
	var l xlator.Loc
	if pl == nil {
		return l
	}
	l.Name = pl.Name
	l.GfidReq = GfidOf(pl.GfidReq)
	if len(pl.Parent) > 0 {
		l.Parent = s.inode(r, GfidOf(pl.Parent), syscall.S_IFDIR)
	}
	if g := GfidOf(pl.Gfid); !g.IsZero() {
		l.Inode = s.inode(r, g, pl.Type)
	} else if pl.Inode != 0 || l.Parent != nil {
		l.Inode = s.ep.NewInode(r.g, pl.Inode)
		r.refs = append(r.refs, l.Inode)
	}
	if l.Parent == nil && l.Inode == nil {
		l.Inode = s.inode(r, xlator.RootGFID, syscall.S_IFDIR)
	}
	return l
}

func (s *Server) fd(r *req, pf *pb.Fd, in *xlator.Inode) (*xlator.FD, uint32) {
	if pf == nil {
		return nil, uint32(syscall.EBADF)
	}
	fd, err := s.ep.FD(r.g, pf, in)
	if err != nil {
		return nil, errnoOf(err)
	}
	r.fds = append(r.fds, fd)
	return fd, 0
}

// link records in the local table what an entry fop returned.
func (s *Server) link(r *req, l *xlator.Loc, ia *xlator.Iatt) {
	if ia.Gfid.IsZero() || l.Parent == nil {
		return
	}
	in := r.g.Inodes().Link(l.Inode, l.Parent, l.Name, ia)
	s.ep.Linked(in)
	in.Unref()
}

func (s *Server) locErr(ctx context.Context, fop xlator.Fop, h *pb.Header, pl *pb.Loc,
	do func(x xlator.Xlator, c *xlator.Call, l *xlator.Loc) error) (*pb.ErrRsp, error) {
	r, e := s.begin(ctx, fop, h)
	if e != 0 {
		return &pb.ErrRsp{Errno: e}, nil
	}
	defer r.end()
	l := s.loc(r, pl)
	return &pb.ErrRsp{Errno: errnoOf(do(r.x, r.c, &l))}, nil
}

func (s *Server) Unlink(ctx context.Context, q *pb.LocReq) (*pb.ErrRsp, error) {
	return s.locErr(ctx, xlator.FopUnlink, q.H, q.Loc, func(x xlator.Xlator, c *xlator.Call, l *xlator.Loc) error {
		err := x.Unlink(c, l)
		if err == nil && s.ep.FrontEnd() && l.Parent != nil {
			l.Parent.Table().Unlink(l.Parent, l.Name)
		}
		return err
	})
}

func (s *Server) Rmdir(ctx context.Context, q *pb.LocReq) (*pb.ErrRsp, error) {
	return s.locErr(ctx, xlator.FopRmdir, q.H, q.Loc, func(x xlator.Xlator, c *xlator.Call, l *xlator.Loc) error {
		err := x.Rmdir(c, l)
		if err == nil && s.ep.FrontEnd() && l.Parent != nil {
			l.Parent.Table().Unlink(l.Parent, l.Name)
		}
		return err
	})
}

func (s *Server) Rename(ctx context.Context, q *pb.RenameReq) (*pb.ErrRsp, error) {
	r, e := s.begin(ctx, xlator.FopRename, q.H)
	if e != 0 {
		return &pb.ErrRsp{Errno: e}, nil
	}
	defer r.end()
	from, to := s.loc(r, q.From), s.loc(r, q.To)
	err := r.x.Rename(r.c, &from, &to, q.Flags)
	if err == nil && s.ep.FrontEnd() && from.Parent != nil && to.Parent != nil && q.Flags&xlator.RenameExchange == 0 {
		r.g.Inodes().Rename(from.Parent, from.Name, to.Parent, to.Name)
	}
	return &pb.ErrRsp{Errno: errnoOf(err)}, nil
}

func (s *Server) Link(ctx context.Context, q *pb.LinkReq) (*pb.IattRsp, error) {
	r, e := s.begin(ctx, xlator.FopLink, q.H)
	if e != 0 {
		return &pb.IattRsp{Errno: e}, nil
	}
	defer r.end()
	from, to := s.loc(r, q.From), s.loc(r, q.To)
	ia, err := r.x.Link(r.c, &from, &to)
	if err != nil {
		return &pb.IattRsp{Errno: errnoOf(err)}, nil
	}
	to.Inode = from.Inode
	s.link(r, &to, &ia)
	return &pb.IattRsp{Iatt: iattTo(&ia)}, nil
}

func (s *Server) Create(ctx context.Context, q *pb.CreateReq) (*pb.OpenRsp, error) {
	return s.create(ctx, xlator.FopCreate, q)
}

func (s *Server) Tmpfile(ctx context.Context, q *pb.CreateReq) (*pb.OpenRsp, error) {
	return s.create(ctx, xlator.FopTmpfile, q)
}

// create serves Create and Tmpfile: a Create's file is linked under its
// name, a Tmpfile's by its gfid alone.
func (s *Server) create(ctx context.Context, fop xlator.Fop, q *pb.CreateReq) (*pb.OpenRsp, error) {
	r, e := s.begin(ctx, fop, q.H)
	if e != 0 {
		return &pb.OpenRsp{Errno: e}, nil
	}
	defer r.end()
	l := s.loc(r, q.Loc)
	fd, e := s.fd(r, q.Fd, l.Inode)
	if e != 0 {
		return &pb.OpenRsp{Errno: e}, nil
	}
	var ia xlator.Iatt
	var err error
	if fop == xlator.FopTmpfile {
		ia, err = r.x.Tmpfile(r.c, &l, q.Flags, q.Mode, q.Umask, fd)
	} else {
		ia, err = r.x.Create(r.c, &l, q.Flags, q.Mode, q.Umask, fd)
	}
	if err != nil {
		return &pb.OpenRsp{Errno: errnoOf(err)}, nil
	}
	if fop == xlator.FopTmpfile {
		if !ia.Gfid.IsZero() {
			in := r.g.Inodes().Link(l.Inode, nil, "", &ia)
			s.ep.Linked(in)
			in.Unref()
		}
	} else {
		s.link(r, &l, &ia)
	}
	return &pb.OpenRsp{Handle: s.ep.Opened(fd, q.Fd), Iatt: iattTo(&ia)}, nil
}

func (s *Server) Open(ctx context.Context, q *pb.OpenReq) (*pb.OpenRsp, error) {
	return s.open(ctx, xlator.FopOpen, q)
}

func (s *Server) Opendir(ctx context.Context, q *pb.OpenReq) (*pb.OpenRsp, error) {
	return s.open(ctx, xlator.FopOpendir, q)
}

func (s *Server) open(ctx context.Context, fop xlator.Fop, q *pb.OpenReq) (*pb.OpenRsp, error) {
	r, e := s.begin(ctx, fop, q.H)
	if e != 0 {
		return &pb.OpenRsp{Errno: e}, nil
	}
	defer r.end()
	l := s.loc(r, q.Loc)
	fd, e := s.fd(r, q.Fd, l.Inode)
	if e != 0 {
		return &pb.OpenRsp{Errno: e}, nil
	}
	var err error
	if fop == xlator.FopOpendir {
		err = r.x.Opendir(r.c, &l, fd)
	} else {
		err = r.x.Open(r.c, &l, q.Flags, fd)
	}
	if err != nil {
		return &pb.OpenRsp{Errno: errnoOf(err)}, nil
	}
	return &pb.OpenRsp{Handle: s.ep.Opened(fd, q.Fd)}, nil
}

func (s *Server) Readv(ctx context.Context, q *pb.ReadvReq) (*pb.ReadvRsp, error) {
	ref, e := s.ServeReadv(ctx, q.H, q.Fd, q.Size, q.Off)
	if e != 0 {
		return &pb.ReadvRsp{Errno: e}, nil
	}
	if a := s.ep.Arena(); a != nil {
		defer a.Release()
		// A slot only to a far side that maps the arena: the host
		// learns it from the plugin's answer to Init.
		if a.PeerMaps() {
			if slot, ok := a.HandOver(ref, transport.ShmMin); ok {
				return &pb.ReadvRsp{Shm: &pb.Shm{Slot: slot, Len: uint32(ref.Size())}}, nil
			}
		}
	}
	// The reply is marshalled after this returns, when the iobref must
	// be gone: its bytes are copied out once.
	buf := make([]byte, ref.Size())
	ref.CopyTo(buf)
	ref.Unref()
	return &pb.ReadvRsp{Iov: [][]byte{buf}}, nil
}

// ServeReadv serves a readv, by gRPC or through the ring; the data
// returned is the caller's.
func (s *Server) ServeReadv(ctx context.Context, h *pb.Header, pf *pb.Fd, size, off int64) (*iobuf.Iobref, uint32) {
	if size > transport.MaxIO {
		return nil, uint32(syscall.EINVAL) // a child would allocate it
	}
	r, e := s.begin(ctx, xlator.FopReadv, h)
	if e != 0 {
		return nil, e
	}
	defer r.end()
	fd, e := s.fd(r, pf, nil)
	if e != 0 {
		return nil, e
	}
	ref, err := r.x.Readv(r.c, fd, int(size), off)
	if err != nil {
		return nil, errnoOf(err)
	}
	return ref, 0
}

func (s *Server) Writev(ctx context.Context, q *pb.WritevReq) (*pb.WritevRsp, error) {
	var data *iobuf.Iobref
	if sh := q.Shm; sh != nil {
		var e uint32
		if data, e = s.borrow(sh.Slot, sh.Len); e != 0 {
			return &pb.WritevRsp{Errno: e}, nil
		}
	} else if pool := s.Pool(); pool != nil {
		data = iobrefOf(pool, q.Iov)
	} else {
		return &pb.WritevRsp{Errno: uint32(syscall.ENOTCONN)}, nil
	}
	n, e := s.ServeWritev(ctx, q.H, q.Fd, data, q.Off)
	return &pb.WritevRsp{Errno: e, N: n}, nil
}

// Pool returns the local graph's iobuf pool (nil when it is not running).
func (s *Server) Pool() *iobuf.Pool {
	if g := s.ep.Graph(); g != nil {
		return g.Env().Iobufs
	}
	return nil
}

// borrow returns the writev data in an arena slot, used in place under a
// reference of our own: the sender drops its reference when the reply
// reaches it, ours goes when the translator lets go of the data.
func (s *Server) borrow(slot, n uint32) (*iobuf.Iobref, uint32) {
	pool := s.Pool()
	if pool == nil {
		return nil, uint32(syscall.ENOTCONN)
	}
	a := s.ep.Arena()
	data, ok := a.Borrow(pool, slot, n, true)
	if a != nil {
		a.Release()
	}
	if !ok {
		return nil, uint32(syscall.EIO)
	}
	return data, 0
}

// ServeWritev serves a writev, by gRPC or through the ring; it consumes
// data.
func (s *Server) ServeWritev(ctx context.Context, h *pb.Header, pf *pb.Fd, data *iobuf.Iobref, off int64) (int64, uint32) {
	defer data.Unref()
	r, e := s.begin(ctx, xlator.FopWritev, h)
	if e != 0 {
		return 0, e
	}
	defer r.end()
	fd, e := s.fd(r, pf, nil)
	if e != 0 {
		return 0, e
	}
	n, err := r.x.Writev(r.c, fd, data, off)
	return int64(n), errnoOf(err)
}

func (s *Server) Readdir(ctx context.Context, q *pb.ReaddirReq) (*pb.ReaddirRsp, error) {
	if q.Off < 0 {
		return &pb.ReaddirRsp{Errno: uint32(syscall.EINVAL)}, nil // a cookie no child returns
	}
	r, e := s.begin(ctx, xlator.FopReaddir, q.H)
	if e != 0 {
		return &pb.ReaddirRsp{Errno: e}, nil
	}
	defer r.end()
	fd, e := s.fd(r, q.Fd, nil)
	if e != 0 {
		return &pb.ReaddirRsp{Errno: e}, nil
	}
	ds, err := r.x.Readdir(r.c, fd, q.Off, int(q.Count), q.Plus)
	if err != nil {
		return &pb.ReaddirRsp{Errno: errnoOf(err)}, nil
	}
	if q.Plus {
		for i := range ds {
			if !ds[i].Attr.Gfid.IsZero() {
				l := xlator.Loc{Parent: fd.Inode, Name: ds[i].Name}
				s.link(r, &l, &ds[i].Attr)
			}
		}
	}
	return &pb.ReaddirRsp{Entries: direntsTo(ds, q.Plus)}, nil
}

func (s *Server) Release(_ context.Context, q *pb.FdReq) (*pb.ErrRsp, error) {
	if q.Fd != nil {
		s.ep.Release(q.Fd.Handle, false)
	}
	return &pb.ErrRsp{}, nil
}

func (s *Server) Releasedir(_ context.Context, q *pb.FdReq) (*pb.ErrRsp, error) {
	if q.Fd != nil {
		s.ep.Release(q.Fd.Handle, true)
	}
	return &pb.ErrRsp{}, nil
}

func (s *Server) Forget(_ context.Context, q *pb.ForgetReq) (*pb.ErrRsp, error) {
	s.ep.Forget(q.Gfids)
	return &pb.ErrRsp{}, nil
}

// Pins keeps a lookup count on every inode the far side has named, as a
// kernel does on the inodes it knows, until the far side forgets it: the
// local translators' state on the inode lives as long as the caller's.
type Pins struct {
	mu sync.Mutex
	m  map[xlator.GFID]*xlator.Inode
}

func (p *Pins) Pin(in *xlator.Inode) {
	g := in.GFID()
	if g.IsZero() || g == xlator.RootGFID {
		return
	}
	p.mu.Lock()
	if p.m == nil {
		p.m = map[xlator.GFID]*xlator.Inode{}
	}
	_, ok := p.m[g]
	if !ok {
		p.m[g] = in
	}
	p.mu.Unlock()
	if !ok {
		in.Table().AddLookup(in, 1)
	}
}

func (p *Pins) Unpin(g xlator.GFID) {
	p.mu.Lock()
	in, ok := p.m[g]
	delete(p.m, g)
	p.mu.Unlock()
	if ok {
		in.Table().ForgetLookup(in, 1)
	}
}
