package stripe

import (
	"sync"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// Directories: every child holds every name, so a listing is the union of
// the children's. A name that some children lack is listed all the same
// (it is not hidden: the lookup that follows reports it, EIO and a log
// line), and readdirplus gives an entry attributes only when a lookup
// would give the same ones, so the kernel never caches what lookup and
// stat then deny.

// dirCtx is stripe's state on an open directory: the union of the
// children's names, read in full at the readdir at offset 0; readdir's
// cookies are positions in it, as posix's are in its own snapshot.
type dirCtx struct {
	mu   sync.Mutex
	ents []xlator.Dirent // Name, Ino, Type, Off = position + 1
	read bool
}

// readdirBatch is how many entries a child is asked for at a time while
// the union is read.
const readdirBatch = 512

// Opendir opens the directory on every child (fsyncdir goes to all) and
// gives the fd stripe's state for Readdir.
func (s *Stripe) Opendir(c *xlator.Call, loc *xlator.Loc, fd *xlator.FD) error {
	if err := s.onAll(c, func(c *xlator.Call, ch xlator.Xlator) error { return ch.Opendir(c, loc, fd) }); err != nil {
		return err
	}
	fd.SetCtx(s, &dirCtx{})
	return nil
}

// Releasedir drops stripe's state on an open directory.
func (s *Stripe) Releasedir(fd *xlator.FD) { fd.DelCtx(s) }

// Readdir lists the union of the children's names: child 0's in its order,
// then the names only other children have, in theirs. The union is read
// at offset 0 and kept on the fd. With plus, each entry carries the
// attributes a lookup of it gives (the children's stats judged as Lookup
// judges them, in parallel, one goroutine per child); an entry a lookup
// would refuse (missing on a child, types, gfids or geometries that
// disagree) comes with zero attributes (Attr.Gfid zero), so the front end
// looks it up and gets the EIO and the log line.
func (s *Stripe) Readdir(c *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	if err := s.allUp(); err != nil {
		return nil, err
	}
	dc, ok := fd.Ctx(s).(*dirCtx)
	if !ok {
		return nil, syscall.EBADF
	}
	dc.mu.Lock()
	if off == 0 || !dc.read {
		ents, err := s.union(c, fd)
		if err != nil {
			dc.mu.Unlock()
			return nil, err
		}
		dc.ents, dc.read = ents, true
	}
	var out []xlator.Dirent
	if off >= 0 && off < int64(len(dc.ents)) && count > 0 {
		out = append(out, dc.ents[off:min(int64(len(dc.ents)), off+int64(count))]...)
	}
	dc.mu.Unlock()
	if plus && len(out) > 0 {
		s.attrs(c, fd.Inode, out)
	}
	return out, nil
}

// listAll reads ch's listing of the directory fd to its end.
func listAll(c *xlator.Call, ch xlator.Xlator, fd *xlator.FD) ([]xlator.Dirent, error) {
	var all []xlator.Dirent
	var off int64
	for {
		ents, err := ch.Readdir(c, fd, off, readdirBatch, false)
		if err != nil || len(ents) == 0 {
			return all, err
		}
		all = append(all, ents...)
		off = ents[len(ents)-1].Off
	}
}

// union reads every child's listing of the directory fd to its end and
// merges them by name.
func (s *Stripe) union(c *xlator.Call, fd *xlator.FD) ([]xlator.Dirent, error) {
	n := len(s.Children())
	lists := make([][]xlator.Dirent, n)
	errs := make([]error, n)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		lists[i], errs[i] = listAll(c, ch, fd)
	})
	if err := firstErr(errs); err != nil {
		return nil, err
	}
	seen := make(map[string]struct{}, len(lists[0]))
	var out []xlator.Dirent
	for _, list := range lists {
		for _, d := range list {
			if _, dup := seen[d.Name]; dup {
				continue
			}
			seen[d.Name] = struct{}{}
			out = append(out, xlator.Dirent{Name: d.Name, Ino: d.Ino, Type: d.Type, Off: int64(len(out) + 1)})
		}
	}
	return out, nil
}

// attrs fills the attributes of the entries ents of directory dir as
// Readdir documents. Every child stats every entry (one goroutine per
// child); a regular file's geometry comes from its inode's context when
// the table has it, else from the children's xattrs (one more round). An
// entry that does not pass is examined again as Lookup examines a name
// (settled under its name's lock, so a create in progress is waited for)
// before it is given zero attributes; no log line: the lookup the front
// end then sends reports it.
func (s *Stripe) attrs(c *xlator.Call, dir *xlator.Inode, ents []xlator.Dirent) {
	n := len(s.Children())
	ias := make([]xlator.Iatt, len(ents)*n)
	errs := make([]error, len(ents)*n)
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		for k := range ents {
			ias[k*n+i], errs[k*n+i] = ch.Stat(c, &xlator.Loc{Parent: dir, Name: ents[k].Name})
		}
	})
	ok := make([]bool, len(ents))
	geos := make([]*inodeCtx, len(ents))
	var load []int // entries whose geometry is read from the xattrs
	for k := range ents {
		row := ias[k*n : (k+1)*n]
		ok[k] = s.judgeEntry(nil, row, errs[k*n:(k+1)*n]) == nil && errs[k*n] == nil
		if ok[k] && row[0].IsRegular() {
			if geos[k] = s.tableCtx(row[0].Gfid); geos[k] == nil {
				load = append(load, k)
			}
		}
	}
	if len(load) > 0 {
		ans := make([]geoAnswer, len(load)*n)
		s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) {
			for j, k := range load {
				ans[j*n+i] = s.getGeometry(c, ch, &xlator.Loc{Parent: dir, Name: ents[k].Name})
			}
		})
		for j, k := range load {
			g, p, err := s.judgeGeometry(nil, ans[j*n:(j+1)*n])
			if ok[k] = p == nil && err == nil; ok[k] {
				geos[k] = &inodeCtx{geo: g}
			}
		}
	}
	for k := range ents {
		d, row := &ents[k], ias[k*n:(k+1)*n]
		switch {
		case !ok[k]:
			loc := xlator.Loc{Parent: dir, Name: d.Name}
			ia, p, err := s.examine(c, &loc, func(c *xlator.Call, ch xlator.Xlator) (xlator.Iatt, error) { return ch.Stat(c, &loc) })
			if p == nil && err == nil {
				d.Attr = ia
			}
		case geos[k] != nil:
			d.Attr = fileAttr(geos[k].geo, row)
		default:
			d.Attr = row[0]
		}
	}
}
