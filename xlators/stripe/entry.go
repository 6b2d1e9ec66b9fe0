package stripe

import (
	"errors"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// Entry fops change the namespace, which must stay the same on every
// child. They go to all children; one that fails part-way is undone on the
// children where it succeeded when that is possible (a create by an
// unlink, a rename by the reverse rename, an rmdir by a mkdir with the
// same gfid), and otherwise, or when the undo fails too, logged naming the
// children that now differ.

type (
	mkFn   func(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) (xlator.Iatt, error)
	undoFn func(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) error
)

func unlinkUndo(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) error { return ch.Unlink(c, loc) }
func rmdirUndo(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) error  { return ch.Rmdir(c, loc) }

// newEntry makes loc on every child: first on child 0, which chooses the
// gfid (or honours loc.GfidReq), then on the others in parallel, asking
// them for the same gfid through Loc.GfidReq, so the file has one identity
// across the children (the inode table and posix both know a file by its
// gfid). With geo set, the geometry is stored in the new file's xattr on
// every child. If any child fails, the entry is removed again (undo) where
// it was made and the error returned; first reports that child 0 failed,
// so nothing was made at all.
func (s *Stripe) newEntry(c *xlator.Call, op xlator.Fop, loc *xlator.Loc, geo *Geometry,
	mk mkFn, undo undoFn) (ia xlator.Iatt, first bool, err error) {
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, true, err
	}
	children := s.Children()
	ia0, err := mk(c, children[0], loc)
	if err != nil {
		return xlator.Iatt{}, true, err
	}
	req := *loc
	req.GfidReq = ia0.Gfid
	l := s.getLocal(len(children))
	defer s.putLocal(l)
	l.iatts[0], l.made[0] = ia0, true
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		if i > 0 {
			ia, err := mk(c, ch, &req)
			l.made[i] = err == nil
			// A symlink is the exception: posix cannot store a gfid on one
			// when unprivileged and derives it from the inode number, so
			// each child has its own. Child 0's is the symlink's identity;
			// its attributes and target come from child 0 alone.
			if err == nil && ia.Gfid != ia0.Gfid && !ia0.IsSymlink() {
				s.Logger().Error("child did not give the new entry the gfid asked for (does it honour Loc.GfidReq?)",
					zap.String("child", xlator.Name(ch)), zap.String("path", loc.Path()),
					zap.Stringer("asked", ia0.Gfid), zap.Stringer("got", ia.Gfid))
				err = syscall.EIO
			}
			l.iatts[i], l.errs[i] = ia, err
			if err != nil {
				return
			}
		}
		if geo != nil {
			l.errs[i] = s.setGeometry(c, ch, &req, *geo, 0)
		}
	})
	bad := firstErr(l.errs)
	if bad == nil {
		if ia0.IsRegular() && geo != nil {
			return fileAttr(*geo, l.iatts), false, nil
		}
		return ia0, false, nil
	}
	s.undo(c, op, &req, l, undo, bad)
	return xlator.Iatt{}, false, bad
}

// undo runs fn on the children marked in l.made, after a fop failed with
// cause on another child, and logs what could not be undone.
func (s *Stripe) undo(c *xlator.Call, op xlator.Fop, loc *xlator.Loc, l *local, fn undoFn, cause error) {
	s.rollbacks.Add(1)
	var failed []string
	for i, e := range l.errs {
		if e != nil {
			failed = append(failed, xlator.Name(s.Children()[i])+": "+e.Error())
		}
	}
	skip := make([]bool, len(l.made))
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		skip[i] = !l.made[i]
		l.errs[i] = nil
		if l.made[i] {
			l.errs[i] = fn(c, ch, loc)
		}
	})
	if firstErr(l.errs) != nil {
		s.diverged(op, loc.Path(), "could not undo the fop where it succeeded", l.errs, skip)
		return
	}
	s.Logger().Warn("undid a fop that failed on some children", zap.Stringer("fop", op),
		zap.String("path", loc.Path()), zap.Strings("failed", failed), zap.Error(cause))
}

// Create creates the file on every child (exclusively, so that a failure
// can be undone without removing a file that was there before), with the
// geometry of its name stored on each before the name's lock is released
// (names.go): a lookup of the name in the meantime waits rather than
// finding the file half made. Without O_EXCL an existing file is opened
// instead, on every child. The children never see O_APPEND (see Writev).
func (s *Stripe) Create(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	cflags := flags &^ syscall.O_APPEND
	geo := s.newGeometry(loc.Name)
	unlock := s.names.lock(loc, nil)
	ia, first, err := s.newEntry(c, xlator.FopCreate, loc, &geo,
		func(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) (xlator.Iatt, error) {
			return ch.Create(c, loc, cflags|syscall.O_EXCL, mode, umask, fd)
		}, unlinkUndo)
	if first && errors.Is(err, syscall.EEXIST) && flags&syscall.O_EXCL == 0 {
		defer unlock()
		return s.openExisting(c, loc, cflags, mode, umask, fd)
	}
	if err == nil && loc.Inode != nil {
		loc.Inode.SetCtx(s, &inodeCtx{geo: geo})
	}
	unlock()
	if err == nil && fd != nil {
		// The geometry xattr may have taken an xattr block on the
		// children's file system: report the attributes as they are now,
		// so a later stat does not see st_blocks change under it.
		if post, serr := s.fstatAll(c, fd, geo); serr == nil {
			ia = post
		}
	}
	return ia, err
}

// openExisting is Create of a name that exists: every child opens its
// file (truncating it with O_TRUNC), which must carry child 0's gfid.
func (s *Stripe) openExisting(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	children := s.Children()
	if ia, err := children[0].Lookup(c, &xlator.Loc{Parent: loc.Parent, Name: loc.Name}); err == nil && ia.IsRegular() {
		// Refuse a file with a layout problem before O_TRUNC cuts it.
		if _, err := s.inodeHeld(c, loc); err != nil {
			return xlator.Iatt{}, err
		}
	}
	ia0, err := children[0].Create(c, loc, flags, mode, umask, fd)
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := *loc
	req.GfidReq = ia0.Gfid
	l := s.getLocal(len(children))
	defer s.putLocal(l)
	l.iatts[0] = ia0
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		if i == 0 {
			return
		}
		l.iatts[i], l.errs[i] = ch.Create(c, &req, flags, mode, umask, fd)
		if l.errs[i] == nil && l.iatts[i].Gfid != ia0.Gfid {
			l.errs[i] = syscall.EIO
		}
	})
	if err := firstErr(l.errs); err != nil {
		s.diverged(xlator.FopCreate, loc.Path(), "an existing file differs between children", l.errs, nil)
		return xlator.Iatt{}, err
	}
	if !ia0.IsRegular() {
		return ia0, nil
	}
	x, err := s.inodeHeld(c, loc)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return fileAttr(x.geo, l.iatts), nil
}

// Mknod makes the node on every child; a regular file gets a geometry.
func (s *Stripe) Mknod(c *xlator.Call, loc *xlator.Loc, mode, rdev, umask uint32) (xlator.Iatt, error) {
	var geo *Geometry
	if t := mode & syscall.S_IFMT; t == syscall.S_IFREG || t == 0 {
		g := s.newGeometry(loc.Name)
		geo = &g
	}
	defer s.names.lock(loc, nil)()
	ia, _, err := s.newEntry(c, xlator.FopMknod, loc, geo,
		func(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) (xlator.Iatt, error) {
			return ch.Mknod(c, loc, mode, rdev, umask)
		}, unlinkUndo)
	if err == nil && geo != nil && loc.Inode != nil {
		loc.Inode.SetCtx(s, &inodeCtx{geo: *geo})
	}
	return ia, err
}

// Mkdir makes the directory on every child, with one gfid.
func (s *Stripe) Mkdir(c *xlator.Call, loc *xlator.Loc, mode, umask uint32) (xlator.Iatt, error) {
	defer s.names.lock(loc, nil)()
	ia, _, err := s.newEntry(c, xlator.FopMkdir, loc, nil,
		func(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) (xlator.Iatt, error) {
			return ch.Mkdir(c, loc, mode, umask)
		}, rmdirUndo)
	return ia, err
}

// Symlink makes the symlink on every child, with one gfid.
func (s *Stripe) Symlink(c *xlator.Call, target string, loc *xlator.Loc, umask uint32) (xlator.Iatt, error) {
	defer s.names.lock(loc, nil)()
	ia, _, err := s.newEntry(c, xlator.FopSymlink, loc, nil,
		func(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) (xlator.Iatt, error) {
			return ch.Symlink(c, target, loc, umask)
		}, unlinkUndo)
	return ia, err
}

// settleRemove is settle for unlink and rmdir: a child where the entry was
// already gone (ENOENT) counts as done when another child removed it, so a
// half-removed entry left by an earlier failure can be removed again.
func (s *Stripe) settleRemove(op xlator.Fop, loc *xlator.Loc, errs []error) error {
	removed, real := 0, error(nil)
	for _, e := range errs {
		switch {
		case e == nil:
			removed++
		case errors.Is(e, syscall.ENOENT):
		case real == nil:
			real = e
		}
	}
	switch {
	case removed == len(errs):
		return nil
	case removed == 0:
		return errs[0]
	case real == nil:
		s.Logger().Warn("entry was already missing on some children", zap.Stringer("fop", op),
			zap.String("path", loc.Path()))
		return nil
	}
	return real
}

// Unlink removes the name on every child. An unlink cannot be undone: a
// child that fails while others succeed is logged as a divergence.
func (s *Stripe) Unlink(c *xlator.Call, loc *xlator.Loc) error {
	if err := s.allUp(); err != nil {
		return err
	}
	defer s.names.lock(loc, nil)()
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.errs[i] = ch.Unlink(c, loc) })
	err := s.settleRemove(xlator.FopUnlink, loc, l.errs)
	if err != nil && firstErr(l.errs) != nil && hasNil(l.errs) {
		s.diverged(xlator.FopUnlink, loc.Path(), "unlinked on some children only", l.errs, nil)
	}
	return err
}

func hasNil(errs []error) bool {
	for _, e := range errs {
		if e == nil {
			return true
		}
	}
	return false
}

// Rmdir removes the directory on every child. If it fails on some (say
// ENOTEMPTY) after succeeding on others, the directory is made again where
// it was removed, with its gfid, mode and owner.
func (s *Stripe) Rmdir(c *xlator.Call, loc *xlator.Loc) error {
	if err := s.allUp(); err != nil {
		return err
	}
	defer s.names.lock(loc, nil)()
	children := s.Children()
	l := s.getLocal(len(children))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.errs[i] = ch.Rmdir(c, loc) })
	err := s.settleRemove(xlator.FopRmdir, loc, l.errs)
	if err == nil || !hasNil(l.errs) {
		return err
	}
	// Some removed it, some could not: restore it from one that has it.
	src := -1
	for i, e := range l.errs {
		if e != nil && !errors.Is(e, syscall.ENOENT) {
			src = i
			break
		}
	}
	ia, serr := children[src].Stat(c, &xlator.Loc{Parent: loc.Parent, Name: loc.Name})
	if serr != nil {
		s.diverged(xlator.FopRmdir, loc.Path(), "removed on some children only, and the others cannot be read", l.errs, nil)
		return err
	}
	req := xlator.Loc{Parent: loc.Parent, Name: loc.Name, Inode: loc.Inode, GfidReq: ia.Gfid}
	for i, e := range l.errs {
		l.made[i] = e == nil
	}
	s.undo(c, xlator.FopRmdir, &req, l, func(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) error {
		if _, err := ch.Mkdir(c, loc, ia.Mode&0o7777, 0); err != nil {
			return err
		}
		if loc.Inode == nil || loc.Inode.GFID() != ia.Gfid {
			return nil // no inode to reach it by: owner left to the caller's credentials
		}
		_, err := ch.Setattr(c, &xlator.Loc{Parent: loc.Parent, Name: loc.Name, Inode: loc.Inode},
			&xlator.SetattrIn{Valid: xlator.SetUid | xlator.SetGid | xlator.SetMode, Uid: ia.Uid, Gid: ia.Gid, Mode: ia.Mode & 0o7777})
		return err
	}, err)
	return err
}

// Rename renames on every child. If it fails on some after succeeding on
// others, it is reversed where it succeeded (an exchange by exchanging
// again); a target it replaced there cannot be brought back, which is
// logged.
func (s *Stripe) Rename(c *xlator.Call, from, to *xlator.Loc, flags uint32) error {
	if err := s.allUp(); err != nil {
		return err
	}
	defer s.names.lock(from, to)()
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.errs[i] = ch.Rename(c, from, to, flags) })
	err := firstErr(l.errs)
	if err == nil || !hasNil(l.errs) {
		return err
	}
	for i, e := range l.errs {
		l.made[i] = e == nil
	}
	back := xlator.Loc{Parent: to.Parent, Name: to.Name, Inode: from.Inode}
	orig := xlator.Loc{Parent: from.Parent, Name: from.Name}
	s.undo(c, xlator.FopRename, from, l, func(c *xlator.Call, ch xlator.Xlator, _ *xlator.Loc) error {
		if flags&xlator.RenameExchange != 0 {
			return ch.Rename(c, from, to, xlator.RenameExchange)
		}
		return ch.Rename(c, &back, &orig, xlator.RenameNoReplace)
	}, err)
	if to.Inode != nil && flags&xlator.RenameExchange == 0 {
		s.diverged(xlator.FopRename, to.Path(), "the rename was undone, but the target it replaced is gone from some children",
			l.errs, nil)
	}
	return err
}

// Link adds the name on every child; if it fails on some, the new name is
// removed again where it was made.
func (s *Stripe) Link(c *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	l := s.getLocal(len(s.Children()))
	defer s.putLocal(l)
	unlock := s.names.lock(to, nil)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { l.iatts[i], l.errs[i] = ch.Link(c, from, to) })
	if err := firstErr(l.errs); err != nil {
		if hasNil(l.errs) {
			for i, e := range l.errs {
				l.made[i] = e == nil
			}
			s.undo(c, xlator.FopLink, to, l, unlinkUndo, err)
		}
		unlock()
		return xlator.Iatt{}, err
	}
	unlock()
	if !l.iatts[0].IsRegular() {
		return l.iatts[0], nil
	}
	x, err := s.inode(c, from)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return fileAttr(x.geo, l.iatts), nil
}
