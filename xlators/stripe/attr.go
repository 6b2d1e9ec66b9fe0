package stripe

import (
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// getFn asks one child about a file: a lookup, stat or fstat.
type getFn func(c *xlator.Call, ch xlator.Xlator) (xlator.Iatt, error)

// look asks every child about loc's file with get and judges the answers
// (judgeEntry): the name must be on every child with one type and gfid,
// and a regular file must hold one geometry (from the inode's context or
// the table's inode of its gfid, else judgeGeometry over the children's
// xattrs, then kept in loc.Inode). It returns the merged attributes
// (fileAttr for a regular file, child 0's otherwise), or the problem,
// which it leaves to the caller to report; l is scratch.
func (s *Stripe) look(c *xlator.Call, loc *xlator.Loc, l *local, get getFn) (xlator.Iatt, *Problem, error) {
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.iatts[i], l.errs[i] = get(c, ch) })
	if p := s.judgeEntry(loc.Path, l.iatts, l.errs); p != nil {
		return xlator.Iatt{}, p, nil
	}
	if l.errs[0] != nil {
		return xlator.Iatt{}, nil, l.errs[0] // the same error on every child
	}
	ia0 := l.iatts[0]
	if !ia0.IsRegular() {
		return ia0, nil, nil
	}
	x := s.ctxOf(loc.Inode)
	if x == nil {
		x = s.tableCtx(ia0.Gfid)
	}
	if x == nil {
		g, p, err := s.loadGeometry(c, loc)
		if p != nil || err != nil {
			return xlator.Iatt{}, p, err
		}
		if x, err = s.keep(c, loc, g, nil, nil); err != nil {
			return xlator.Iatt{}, nil, err
		}
	}
	return fileAttr(x.geo, l.iatts), nil, nil
}

// tableCtx returns stripe's context on the inode table's inode of gfid g,
// or nil.
func (s *Stripe) tableCtx(g xlator.GFID) *inodeCtx {
	in := s.Graph().Inodes().Find(g)
	if in == nil {
		return nil
	}
	defer in.Unref()
	return s.ctxOf(in)
}

// examine is look, settled: a problem it finds may be an entry fop of
// this stack half done on the name, so it looks again holding the name's
// lock (names.go). The problem it returns then is real; the caller reports
// it (answer), or readdirplus leaves it to the lookup that follows.
func (s *Stripe) examine(c *xlator.Call, loc *xlator.Loc, get getFn) (xlator.Iatt, *Problem, error) {
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	ia, p, err := s.look(c, loc, l, get)
	if p != nil {
		if unlock := s.names.rlock(loc); unlock != nil {
			ia, p, err = s.look(c, loc, l, get)
			unlock()
		}
	}
	return ia, p, err
}

// answer ends a fop that examined a file: a problem is reported and fails
// the fop with EIO.
func (s *Stripe) answer(c *xlator.Call, ia xlator.Iatt, p *Problem, err error) (xlator.Iatt, error) {
	if p != nil {
		s.report(c, p)
		return xlator.Iatt{}, syscall.EIO
	}
	return ia, err
}

// Lookup resolves loc on every child: the name must exist on all of them,
// with one type and gfid, and a regular file with one geometry (see look).
// Anything else is EIO, logged once (report): stripe has no self-heal and
// never guesses. A name that is nowhere is ENOENT.
func (s *Stripe) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	ia, p, err := s.examine(c, loc, func(c *xlator.Call, ch xlator.Xlator) (xlator.Iatt, error) { return ch.Lookup(c, loc) })
	return s.answer(c, ia, p, err)
}

// Stat is Lookup's check by stat: every child, the same rules, so that
// stat and lookup (and readdirplus) agree on every file. A symlink known
// as one is the exception: its attributes are child 0's alone (see
// newEntry).
func (s *Stripe) Stat(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if loc.Inode != nil && loc.Inode.Type() == syscall.S_IFLNK {
		if err := s.childUp(0); err != nil {
			return xlator.Iatt{}, err
		}
		return s.Children()[0].Stat(c, loc)
	}
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	ia, p, err := s.examine(c, loc, func(c *xlator.Call, ch xlator.Xlator) (xlator.Iatt, error) { return ch.Stat(c, loc) })
	return s.answer(c, ia, p, err)
}

// Fstat is Stat through an open file or directory.
func (s *Stripe) Fstat(c *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	ia, p, err := s.examine(c, &xlator.Loc{Inode: fd.Inode},
		func(c *xlator.Call, ch xlator.Xlator) (xlator.Iatt, error) { return ch.Fstat(c, fd) })
	return s.answer(c, ia, p, err)
}

// notFile reports whether an inode is known not to be a regular file.
func notFile(in *xlator.Inode) bool {
	t := in.Type()
	return t != 0 && t != syscall.S_IFREG
}

// Setattr applies the change on every child. A size change is translated
// per child: each child's file is truncated (or extended) to the length of
// the file's data it holds at the new size (Geometry.ChildSize). A
// failure on some children cannot be undone (the old values are not
// known, a truncate loses data) and is logged.
func (s *Stripe) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	return s.setattr(c, xlator.FopSetattr, loc, nil, in)
}

// Fsetattr is Setattr through an open file.
func (s *Stripe) Fsetattr(c *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	return s.setattr(c, xlator.FopFsetattr, &xlator.Loc{Inode: fd.Inode}, fd, in)
}

func (s *Stripe) setattr(c *xlator.Call, op xlator.Fop, loc *xlator.Loc, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	if fd == nil && loc.Inode != nil && loc.Inode.Type() == syscall.S_IFLNK {
		// A symlink's attributes are child 0's alone (see newEntry): the
		// other children may know it by another gfid.
		if err := s.childUp(0); err != nil {
			return xlator.Iatt{}, err
		}
		return s.Children()[0].Setattr(c, loc, in)
	}
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	resize := in.Valid&xlator.SetSize != 0
	if resize && in.Size < 0 {
		return xlator.Iatt{}, syscall.EINVAL
	}
	var x *inodeCtx
	if resize && loc.Inode != nil && loc.Inode.Type() == syscall.S_IFREG {
		var err error
		if x, err = s.inode(c, loc); err != nil {
			return xlator.Iatt{}, err
		}
	}
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		cin := in
		if x != nil {
			v := *in
			v.Size = x.geo.ChildSize(i, in.Size)
			cin = &v
		}
		if fd != nil {
			l.iatts[i], l.errs[i] = ch.Fsetattr(c, fd, cin)
		} else {
			l.iatts[i], l.errs[i] = ch.Setattr(c, loc, cin)
		}
	})
	if err := s.settle(op, loc.Path, l.errs); err != nil {
		return xlator.Iatt{}, err
	}
	if !l.iatts[0].IsRegular() {
		return l.iatts[0], nil
	}
	if x == nil {
		var err error
		if x, err = s.inode(c, loc); err != nil {
			return xlator.Iatt{}, err
		}
	}
	return fileAttr(x.geo, l.iatts), nil
}

// Access asks child 0: permissions are the same on every child.
func (s *Stripe) Access(c *xlator.Call, loc *xlator.Loc, mask uint32) error {
	if err := s.childUp(0); err != nil {
		return err
	}
	return s.Children()[0].Access(c, loc, mask)
}

// Readlink asks child 0: every child has the same symlink.
func (s *Stripe) Readlink(c *xlator.Call, loc *xlator.Loc) (string, error) {
	if err := s.childUp(0); err != nil {
		return "", err
	}
	return s.Children()[0].Readlink(c, loc)
}

// Open opens the file on every child, each keeping its own state in its
// slot of the one fd, without O_APPEND (stripe appends itself; see
// Writev). The file's geometry is loaded into the inode's context: before
// the children open a file known to be regular, so that a file with a
// layout problem is not truncated by O_TRUNC before it is refused.
func (s *Stripe) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	if err := s.allUp(); err != nil {
		return err
	}
	if loc.Inode != nil && loc.Inode.Type() == syscall.S_IFREG {
		if _, err := s.inode(c, loc); err != nil {
			return err
		}
	}
	cflags := flags &^ syscall.O_APPEND
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.errs[i] = ch.Open(c, loc, cflags, fd) })
	if err := firstErr(l.errs); err != nil {
		if flags&syscall.O_TRUNC != 0 && hasNil(l.errs) {
			s.diverged(xlator.FopOpen, loc.Path(), "truncated on some children only", l.errs, nil)
		}
		return err // the children that opened drop their state at release
	}
	if loc.Inode != nil && notFile(loc.Inode) {
		return nil
	}
	_, err := s.inode(c, loc)
	return err
}

// Statfs sums the children's space (each holds a share of every file's
// data), converted to child 0's fragment size, counting a file system
// that several children share (the same Fsid) once; the file counts are
// the smallest child's, since every file takes an inode on every child.
func (s *Stripe) Statfs(c *xlator.Call, loc *xlator.Loc) (xlator.Statvfs, error) {
	if err := s.allUp(); err != nil {
		return xlator.Statvfs{}, err
	}
	n := len(s.Children())
	out := make([]xlator.Statvfs, n)
	errs := make([]error, n)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { out[i], errs[i] = ch.Statfs(c, loc) })
	if err := firstErr(errs); err != nil {
		return xlator.Statvfs{}, err
	}
	return sumStatfs(out), nil
}

// sumStatfs combines the children's statistics as Statfs documents.
func sumStatfs(v []xlator.Statvfs) xlator.Statvfs {
	r := v[0]
	unit := func(x *xlator.Statvfs) uint64 {
		if x.Frsize != 0 {
			return x.Frsize
		}
		return max(x.Bsize, 1)
	}
	fr := unit(&r)
	r.Frsize = fr
	r.Blocks, r.Bfree, r.Bavail = 0, 0, 0
	seen := make(map[uint64]bool, len(v))
	for i := range v {
		x := &v[i]
		if x.Fsid != r.Fsid {
			r.Fsid = 0 // several file systems: none is the result's
		}
		if x.Fsid != 0 && seen[x.Fsid] {
			continue
		}
		seen[x.Fsid] = true
		u := unit(x)
		r.Blocks += x.Blocks * u / fr
		r.Bfree += x.Bfree * u / fr
		r.Bavail += x.Bavail * u / fr
		r.Files, r.Ffree, r.Favail = min(r.Files, x.Files), min(r.Ffree, x.Ffree), min(r.Favail, x.Favail)
		r.Namemax = min(r.Namemax, x.Namemax)
	}
	return r
}

// Setxattr sets the attribute on every child (a failure part-way is
// logged). Stripe's own geometry keys are refused with EPERM.
func (s *Stripe) Setxattr(c *xlator.Call, loc *xlator.Loc, name string, value []byte, flags uint32) error {
	if isGeometryKey(name) {
		return syscall.EPERM
	}
	return s.onAllSettled(c, xlator.FopSetxattr, loc, func(c *xlator.Call, ch xlator.Xlator) error {
		return ch.Setxattr(c, loc, name, value, flags)
	})
}

// Removexattr removes the attribute on every child, as Setxattr.
func (s *Stripe) Removexattr(c *xlator.Call, loc *xlator.Loc, name string) error {
	if isGeometryKey(name) {
		return syscall.EPERM
	}
	return s.onAllSettled(c, xlator.FopRemovexattr, loc, func(c *xlator.Call, ch xlator.Xlator) error {
		return ch.Removexattr(c, loc, name)
	})
}

// onAllSettled runs fn on every child and settles the errors, logging a
// divergence.
func (s *Stripe) onAllSettled(c *xlator.Call, op xlator.Fop, loc *xlator.Loc, fn func(c *xlator.Call, ch xlator.Xlator) error) error {
	if err := s.allUp(); err != nil {
		return err
	}
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.errs[i] = fn(c, ch) })
	return s.settle(op, loc.Path, l.errs)
}

// Getxattr asks child 0; stripe's own keys read as absent (ENODATA).
func (s *Stripe) Getxattr(c *xlator.Call, loc *xlator.Loc, name string) ([]byte, error) {
	if isGeometryKey(name) {
		return nil, syscall.ENODATA
	}
	if err := s.childUp(0); err != nil {
		return nil, err
	}
	return s.Children()[0].Getxattr(c, loc, name)
}

// Listxattr asks child 0, leaving out stripe's own keys.
func (s *Stripe) Listxattr(c *xlator.Call, loc *xlator.Loc) ([]string, error) {
	if err := s.childUp(0); err != nil {
		return nil, err
	}
	names, err := s.Children()[0].Listxattr(c, loc)
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if !isGeometryKey(n) {
			out = append(out, n)
		}
	}
	return out, nil
}
