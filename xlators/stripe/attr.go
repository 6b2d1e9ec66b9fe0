package stripe

import (
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// merge combines the children's answers about one file (lookup, stat): all
// failed → child 0's error (ENOENT when the name is nowhere); some failed,
// or the children disagree on the gfid or the type → EIO, logged: the file
// is damaged and stripe does not pretend otherwise (there is no self-heal).
// A regular file's attributes are merged (fileAttr); anything else is
// child 0's.
func (s *Stripe) merge(c *xlator.Call, op xlator.Fop, loc *xlator.Loc, l *local) (xlator.Iatt, error) {
	if l.errs[0] != nil && !hasNil(l.errs) {
		return xlator.Iatt{}, l.errs[0]
	}
	if firstErr(l.errs) != nil {
		s.diverged(op, loc.Path(), "the file is missing or unreadable on some children", l.errs, nil)
		return xlator.Iatt{}, syscall.EIO
	}
	ia0 := &l.iatts[0]
	for i := 1; i < len(l.iatts); i++ {
		if l.iatts[i].Type() != ia0.Type() || l.iatts[i].Gfid != ia0.Gfid && !ia0.IsSymlink() { // see newEntry
			s.divergences.Add(1)
			s.Logger().Error("children disagree on a file's identity", zap.Stringer("fop", op),
				zap.String("path", loc.Path()), zap.String("child", xlator.Name(s.Children()[i])),
				zap.Stringer("gfid", l.iatts[i].Gfid), zap.Stringer("first-child-gfid", ia0.Gfid))
			return xlator.Iatt{}, syscall.EIO
		}
	}
	if !ia0.IsRegular() {
		return *ia0, nil
	}
	x, err := s.inode(c, loc)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return fileAttr(x.geo, l.iatts), nil
}

// Lookup resolves loc on every child: the name must exist on all of them
// with one gfid (see merge). A regular file's geometry is read into the
// inode's context on the way.
func (s *Stripe) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.iatts[i], l.errs[i] = ch.Lookup(c, loc) })
	return s.merge(c, xlator.FopLookup, loc, l)
}

// notFile reports whether an inode is known not to be a regular file, so
// that its attributes are child 0's alone.
func notFile(in *xlator.Inode) bool {
	t := in.Type()
	return t != 0 && t != syscall.S_IFREG
}

// Stat returns child 0's attributes for a directory, symlink or device,
// and the merged attributes of every child for a regular file.
func (s *Stripe) Stat(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if loc.Inode != nil && notFile(loc.Inode) {
		if err := s.childUp(0); err != nil {
			return xlator.Iatt{}, err
		}
		return s.Children()[0].Stat(c, loc)
	}
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.iatts[i], l.errs[i] = ch.Stat(c, loc) })
	return s.merge(c, xlator.FopStat, loc, l)
}

// Fstat is Stat through an open file.
func (s *Stripe) Fstat(c *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	if fd.IsDir() || notFile(fd.Inode) {
		if err := s.childUp(0); err != nil {
			return xlator.Iatt{}, err
		}
		return s.Children()[0].Fstat(c, fd)
	}
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.iatts[i], l.errs[i] = ch.Fstat(c, fd) })
	return s.merge(c, xlator.FopFstat, &xlator.Loc{Inode: fd.Inode}, l)
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
// Writev). The file's geometry is loaded into the inode's context.
func (s *Stripe) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	if err := s.allUp(); err != nil {
		return err
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

// Opendir opens the directory on every child (fsyncdir goes to all).
func (s *Stripe) Opendir(c *xlator.Call, loc *xlator.Loc, fd *xlator.FD) error {
	return s.onAll(c, func(c *xlator.Call, ch xlator.Xlator) error { return ch.Opendir(c, loc, fd) })
}

// Readdir lists child 0, which holds every name. With plus, each regular
// file's attributes are completed from the other children (a stat of the
// entry on each, in parallel, one goroutine per child) and its geometry
// (from its inode's context, else the xattr), so the size is the logical
// one. An entry whose attributes cannot be completed (removed meanwhile,
// or damaged) is returned with zero attributes (Attr.Gfid zero): the front
// end then looks it up, which reports the problem.
func (s *Stripe) Readdir(c *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	if !plus {
		if err := s.childUp(0); err != nil {
			return nil, err
		}
		return s.Children()[0].Readdir(c, fd, off, count, false)
	}
	if err := s.allUp(); err != nil {
		return nil, err
	}
	ents, err := s.Children()[0].Readdir(c, fd, off, count, true)
	if err != nil {
		return nil, err
	}
	var files []int
	for i := range ents {
		if ents[i].Attr.IsRegular() {
			files = append(files, i)
		}
	}
	if len(files) == 0 {
		return ents, nil
	}
	n := len(s.Children())
	ias := make([]xlator.Iatt, len(files)*n)
	errs := make([]error, len(files)*n)
	geos := make([]Geometry, len(files))
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		for k, e := range files {
			d := &ents[e]
			if i == 0 {
				ias[k*n] = d.Attr
				geos[k], errs[k*n] = s.entryGeometry(c, fd.Inode, d)
				continue
			}
			ias[k*n+i], errs[k*n+i] = ch.Stat(c, &xlator.Loc{Parent: fd.Inode, Name: d.Name})
			if errs[k*n+i] == nil && ias[k*n+i].Gfid != d.Attr.Gfid {
				errs[k*n+i] = syscall.EIO
			}
		}
	})
	for k, e := range files {
		if err := firstErr(errs[k*n : (k+1)*n]); err != nil {
			s.Logger().Warn("readdirplus: cannot complete an entry's attributes from every child",
				zap.String("dir", fd.Inode.Path()), zap.String("name", ents[e].Name), zap.Error(err))
			ents[e].Attr = xlator.Iatt{}
			continue
		}
		ents[e].Attr = fileAttr(geos[k], ias[k*n:(k+1)*n])
	}
	return ents, nil
}

// entryGeometry returns the geometry of directory entry d of dir: from the
// context of its inode when the table has it, else from its xattr.
func (s *Stripe) entryGeometry(c *xlator.Call, dir *xlator.Inode, d *xlator.Dirent) (Geometry, error) {
	loc := xlator.Loc{Parent: dir, Name: d.Name}
	if in := dir.Table().Find(d.Attr.Gfid); in != nil {
		defer in.Unref()
		loc.Inode = in
	}
	x, err := s.inode(c, &loc)
	if err != nil {
		return Geometry{}, err
	}
	return x.geo, nil
}

// Statfs sums the children's space (each holds a share of every file's
// data), converted to child 0's fragment size; the file counts are the
// smallest child's, since every file takes an inode on every child.
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
	for i := range v {
		x := &v[i]
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
