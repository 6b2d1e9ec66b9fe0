package stripe

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// CheckStats counts what Check examined.
type CheckStats struct {
	Dirs     uint64 // directories listed
	Files    uint64 // regular files, geometry included
	Others   uint64 // symlinks, devices, fifos and sockets
	Problems uint64 // problems reported
}

// Check walks the stripe's namespace on every child, from the root, depth
// first, the names of each directory sorted, and calls report for every
// file whose layout is inconsistent across the children, by the rules
// lookup applies (see Kind), and for every directory a child cannot list
// (KindChildError). A directory with a problem is reported and not
// entered.
//
// Check only reads: it calls the children's Lookup, Opendir, Readdir and
// Getxattr, never stripe's own fops, so it neither logs nor counts what it
// finds (whatever a child writes on its own account, as posix stamping a
// gfid on a file that lacks one, is the child's: run the stack read-only).
// It assumes no entry fop of the same stack runs meanwhile: it takes no
// name locks, and would report a create in progress as a problem. It
// stops early only when c.Ctx is done, with its error, or when a child
// is down (ENOTCONN).
func (s *Stripe) Check(c *xlator.Call, report func(Problem)) (CheckStats, error) {
	if err := s.allUp(); err != nil {
		return CheckStats{}, err
	}
	k := &checker{s: s, c: c, report: report}
	err := k.dir(s.Graph().Inodes().Root(), "/")
	return k.st, err
}

// checker is one run of Check.
type checker struct {
	s      *Stripe
	c      *xlator.Call
	report func(Problem)
	st     CheckStats
}

func (k *checker) problem(p *Problem) {
	k.st.Problems++
	k.report(*p)
}

// dir checks every entry of the directory dir (linked in the graph's inode
// table), whose path is p.
func (k *checker) dir(dir *xlator.Inode, p string) error {
	if err := k.c.Ctx.Err(); err != nil {
		return err
	}
	if err := k.s.allUp(); err != nil {
		return err
	}
	k.st.Dirs++
	for _, name := range k.list(dir, p) {
		if err := k.entry(dir, path.Join(p, name), name); err != nil {
			return err
		}
	}
	return nil
}

// list returns the sorted union of the children's names in dir, and
// reports a child that cannot list it.
func (k *checker) list(dir *xlator.Inode, p string) []string {
	s := k.s
	n := len(s.Children())
	fd := s.Graph().NewFD(dir, syscall.O_RDONLY, k.c.Pid, true)
	defer fd.Unref()
	lists := make([][]string, n)
	errs := make([]error, n)
	s.each(k.c, func(c *xlator.Call, i int, ch xlator.Xlator) {
		if errs[i] = ch.Opendir(c, &xlator.Loc{Inode: dir}, fd); errs[i] != nil {
			return
		}
		var ents []xlator.Dirent
		ents, errs[i] = listAll(c, ch, fd)
		for _, d := range ents {
			lists[i] = append(lists[i], d.Name)
		}
	})
	if firstErr(errs) != nil {
		pr := &Problem{Path: p, Kind: KindChildError, Children: make([]string, n)}
		for i, e := range errs {
			what := fmt.Sprintf("lists %d names", len(lists[i]))
			if e != nil {
				what = "cannot list: " + e.Error()
			}
			pr.Children[i] = s.holds(i, what)
		}
		k.problem(pr)
	}
	var names []string
	for _, l := range lists {
		names = append(names, l...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// entry checks name in dir, whose path is p, and walks it if it is a
// directory.
func (k *checker) entry(dir *xlator.Inode, p, name string) error {
	s := k.s
	n := len(s.Children())
	loc := xlator.Loc{Parent: dir, Name: name}
	ias := make([]xlator.Iatt, n)
	errs := make([]error, n)
	s.each(k.c, func(c *xlator.Call, i int, ch xlator.Xlator) { ias[i], errs[i] = ch.Lookup(c, &loc) })
	pathOf := func() string { return p }
	if pr := s.judgeEntry(pathOf, ias, errs); pr != nil {
		k.problem(pr)
		return nil
	}
	switch {
	case errors.Is(errs[0], syscall.ENOENT): // gone from every child since the listing
	case errors.Is(errs[0], syscall.ENOTCONN):
		return errs[0]
	case errs[0] != nil: // the same error on every child
		pr := &Problem{Path: p, Kind: KindChildError, Children: make([]string, n)}
		for i, e := range errs {
			pr.Children[i] = s.holds(i, describeEntry(nil, e))
		}
		k.problem(pr)
	case ias[0].IsRegular():
		k.st.Files++
		ans := make([]geoAnswer, n)
		s.each(k.c, func(c *xlator.Call, i int, ch xlator.Xlator) { ans[i] = s.getGeometry(c, ch, &loc) })
		if _, pr, _ := s.judgeGeometry(pathOf, ans); pr != nil {
			k.problem(pr)
		}
	case ias[0].IsDir():
		in := s.Graph().Inodes().Link(nil, dir, name, &ias[0])
		defer in.Unref()
		return k.dir(in, p)
	default:
		k.st.Others++
	}
	return nil
}
