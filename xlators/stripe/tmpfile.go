package stripe

import (
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// Tmpfile makes the unnamed file on every child, as Create makes a named
// one: on child 0 first, which picks the gfid (or honours loc.GfidReq),
// then on the others in parallel with that gfid, each child's file opened
// into the one fd and given the geometry, stored through the inode
// (the file has no name to reach it by). The geometry is the volume's
// default: the block-size patterns match names, and the file has none
// (it keeps its layout when it is linked later, as any file keeps its
// layout). A failure on some children needs no undo: an unnamed file is
// gone when its fd is released, which the caller does on the error. The
// children never see O_APPEND (see Writev). A later Link of the inode
// names it on every child (Link).
func (s *Stripe) Tmpfile(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	if err := s.allUp(); err != nil {
		return xlator.Iatt{}, err
	}
	cflags := flags &^ syscall.O_APPEND
	geo := s.newGeometry("")
	children := s.Children()
	ia0, err := children[0].Tmpfile(c, loc, cflags, mode, umask, fd)
	if err != nil {
		return xlator.Iatt{}, err
	}
	req := *loc
	req.GfidReq = ia0.Gfid
	byInode := &xlator.Loc{Inode: fd.Inode}
	l := s.getLocal(len(children))
	defer s.putLocal(l)
	l.iatts[0] = ia0
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		if i > 0 {
			ia, err := ch.Tmpfile(c, &req, cflags, mode, umask, fd)
			if err == nil && ia.Gfid != ia0.Gfid {
				s.Logger().Error("child did not give the unnamed file the gfid asked for (does it honour Loc.GfidReq?)",
					zap.String("child", xlator.Name(ch)), zap.Stringer("asked", ia0.Gfid), zap.Stringer("got", ia.Gfid))
				err = syscall.EIO
			}
			l.iatts[i], l.errs[i] = ia, err
			if err != nil {
				return
			}
		}
		l.errs[i] = s.setGeometry(c, ch, byInode, geo, 0)
	})
	if err := firstErr(l.errs); err != nil {
		return xlator.Iatt{}, err
	}
	fd.Inode.SetCtx(s, &inodeCtx{geo: geo})
	// As Create: the attributes after the geometry xattr, which may have
	// taken a block.
	if post, err := s.fstatAll(c, fd, geo); err == nil {
		return post, nil
	}
	return fileAttr(geo, l.iatts), nil
}
