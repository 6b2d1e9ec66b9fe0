package checksum

import (
	"sync"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// The table directory does not exist for clients: fops that look for an
// existing entry by its name at the root answer ENOENT, fops that would
// create one EPERM (as posix does for its own private directory), and the
// root's listing leaves it out.

// Lookup hides the table directory.
func (x *Checksum) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if x.hidden(loc) {
		return xlator.Iatt{}, syscall.ENOENT
	}
	return x.FirstChild().Lookup(c, loc)
}

// Readdir leaves the table directory out of the root's listing.
func (x *Checksum) Readdir(c *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	child := x.FirstChild()
	ents, err := child.Readdir(c, fd, off, count, plus)
	if err != nil || !isRoot(fd.Inode) {
		return ents, err
	}
	for {
		out := ents[:0]
		for _, e := range ents {
			if e.Name != x.dirName {
				out = append(out, e)
			}
		}
		if len(out) > 0 || len(ents) == 0 {
			return out, nil
		}
		// The batch held the table directory alone: an empty answer
		// would end the listing, so go on after it.
		if ents, err = child.Readdir(c, fd, ents[len(ents)-1].Off, count, plus); err != nil {
			return nil, err
		}
	}
}

// Mkdir refuses the table directory's name.
func (x *Checksum) Mkdir(c *xlator.Call, loc *xlator.Loc, mode, umask uint32) (xlator.Iatt, error) {
	if x.hidden(loc) {
		return xlator.Iatt{}, syscall.EPERM
	}
	return x.FirstChild().Mkdir(c, loc, mode, umask)
}

// Mknod refuses the table directory's name.
func (x *Checksum) Mknod(c *xlator.Call, loc *xlator.Loc, mode, rdev, umask uint32) (xlator.Iatt, error) {
	if x.hidden(loc) {
		return xlator.Iatt{}, syscall.EPERM
	}
	return x.FirstChild().Mknod(c, loc, mode, rdev, umask)
}

// Symlink refuses the table directory's name.
func (x *Checksum) Symlink(c *xlator.Call, target string, loc *xlator.Loc, umask uint32) (xlator.Iatt, error) {
	if x.hidden(loc) {
		return xlator.Iatt{}, syscall.EPERM
	}
	return x.FirstChild().Symlink(c, target, loc, umask)
}

// Rmdir hides the table directory.
func (x *Checksum) Rmdir(c *xlator.Call, loc *xlator.Loc) error {
	if x.hidden(loc) {
		return syscall.ENOENT
	}
	return x.FirstChild().Rmdir(c, loc)
}

// nameLock returns the lock that serialises the link-count changes of
// the file with gfid g.
func (x *Checksum) nameLock(g xlator.GFID) *sync.Mutex { return &x.names[int(g[15])%len(x.names)] }

// Unlink removes a name; when it was a regular file's last, the file's
// table goes too (kept open, without a name, while the translator holds
// the file's state, so an open file stays protected to its last close).
func (x *Checksum) Unlink(c *xlator.Call, loc *xlator.Loc) error {
	if x.hidden(loc) {
		return syscall.ENOENT
	}
	return x.removeName(c, loc.Parent, loc.Name, xlator.GFID{}, func() error { return x.FirstChild().Unlink(c, loc) })
}

// Rename moves a name; when it replaces the last name of another regular
// file, that file's table goes, as at Unlink.
func (x *Checksum) Rename(c *xlator.Call, from, to *xlator.Loc, flags uint32) error {
	if x.hidden(from) {
		return syscall.ENOENT
	}
	if x.hidden(to) {
		return syscall.EPERM
	}
	child := x.FirstChild()
	rename := func() error { return child.Rename(c, from, to, flags) }
	if flags&(xlator.RenameExchange|xlator.RenameNoReplace) != 0 {
		return rename()
	}
	tgt, err := child.Lookup(c, &xlator.Loc{Parent: to.Parent, Name: to.Name})
	if err != nil || tgt.Type() != syscall.S_IFREG {
		return rename()
	}
	src, err := child.Lookup(c, &xlator.Loc{Parent: from.Parent, Name: from.Name})
	if err != nil {
		return rename()
	}
	return x.removeName(c, to.Parent, to.Name, src.Gfid, rename)
}

// Link adds a name, under the file's name lock (see removeName).
func (x *Checksum) Link(c *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	if x.hidden(to) {
		return xlator.Iatt{}, syscall.EPERM
	}
	if from.Inode != nil && !from.Inode.GFID().IsZero() {
		mu := x.nameLock(from.Inode.GFID())
		mu.Lock()
		defer mu.Unlock()
	}
	return x.FirstChild().Link(c, from, to)
}

// removeName runs remove, which takes the name parent/name away (an
// unlink, or a rename over it), and drops the table of the regular file
// the name held when that was its last name. The file's name lock is held
// from the count to the removal, so a link made through the translator
// cannot make the count false before the table goes. keep is a gfid whose
// table stays whatever the count: a rename onto another name of the same
// file removes nothing.
func (x *Checksum) removeName(c *xlator.Call, parent *xlator.Inode, name string, keep xlator.GFID, remove func() error) error {
	child := x.FirstChild()
	loc := &xlator.Loc{Parent: parent, Name: name}
	ia, err := child.Lookup(c, loc)
	for try := 0; err == nil && ia.Type() == syscall.S_IFREG && ia.Gfid != keep && try < 4; try++ {
		mu := x.nameLock(ia.Gfid)
		mu.Lock()
		now, lerr := child.Lookup(c, loc)
		if lerr == nil && now.Gfid != ia.Gfid {
			mu.Unlock() // the name changed hands meanwhile: lock its new file
			ia = now
			continue
		}
		rerr := remove()
		if rerr == nil && lerr == nil && now.Nlink <= 1 {
			x.dropTable(c, now.Gfid)
		}
		mu.Unlock()
		return rerr
	}
	return remove()
}

// dropTable removes the table of the file with gfid g, whose last name is
// gone. When the translator holds the file's state (the file may be
// open), the state is loaded first and marked, so the table stays open
// without a name as long as the state lives, and a table made later is
// made without a name.
func (x *Checksum) dropTable(c *xlator.Call, g xlator.GFID) {
	if in := x.Graph().Inodes().Find(g); in != nil {
		if t, ok := in.Ctx(x).(*table); ok {
			t.mu.Lock()
			if !t.loaded {
				if err := x.load(c, t); err != nil {
					x.Logger().Warn("cannot open the table of a file losing its last name: the file is read unchecked from now on",
						zap.String("gfid", g.String()), zap.Error(err))
				}
			}
			t.unlinked = true
			t.mu.Unlock()
		}
		in.Unref()
	}
	ic := internal(c)
	defer ic.Done()
	if err := x.removeTable(ic, g); err != nil {
		x.Logger().Warn("cannot remove the checksum table of a removed file: it stays behind",
			zap.String("gfid", g.String()), zap.Error(err))
	}
}
