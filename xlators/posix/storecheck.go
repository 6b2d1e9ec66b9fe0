package posix

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// StoreKind is the kind of a StoreProblem.
type StoreKind int

const (
	// StoreMissing: a file of the brick has no entry.
	StoreMissing StoreKind = iota + 1
	// StoreStale: an entry leads to another file than the one carrying
	// its gfid, or nowhere (a directory's entry whose target is gone).
	StoreStale
	// StoreWrongGfid: an entry is a link to a file that carries another
	// gfid than the entry's name.
	StoreWrongGfid
	// StoreOrphan: an entry's file has no name in the brick (removed
	// behind the stack's back); the entry alone keeps its space.
	StoreOrphan
	// StoreUnlinked: a file left in unlink/ by a stack that stopped while
	// it was open.
	StoreUnlinked
	// StoreNoGfid: a file of the brick has no gfid (made behind the
	// stack's back and never looked up), so it cannot have an entry.
	StoreNoGfid
	// StoreDuplicate: two files of the brick carry the same gfid (copied
	// with their xattrs behind the stack's back). Not repaired: which one
	// is the file's identity is for the administrator to say.
	StoreDuplicate
	// StoreJunk: a name in the store that is not an entry.
	StoreJunk
)

var storeKindNames = map[StoreKind]string{
	StoreMissing:   "missing entry",
	StoreStale:     "stale entry",
	StoreWrongGfid: "entry of another gfid",
	StoreOrphan:    "orphan entry",
	StoreUnlinked:  "leftover unlinked file",
	StoreNoGfid:    "no gfid",
	StoreDuplicate: "duplicate gfid",
	StoreJunk:      "junk in the store",
}

func (k StoreKind) String() string { return storeKindNames[k] }

// StoreProblem is one problem CheckStore found in the gfid store.
type StoreProblem struct {
	Kind     StoreKind
	Gfid     xlator.GFID // zero for StoreNoGfid and StoreJunk
	Path     string      // the file's path in the volume ("/d/f"), "" when it has none
	Entry    string      // the entry, relative to the brick (".xstack/gfid/ab/cd/<gfid>")
	Detail   string      // what was found, in words
	Repaired bool        // CheckStore with repair fixed it
}

// String renders the problem as one line: what, where, and whether it was
// repaired.
func (p StoreProblem) String() string {
	s := p.Kind.String() + ": "
	switch {
	case p.Path != "" && p.Entry != "":
		s += p.Path + " (" + p.Entry + ")"
	case p.Path != "":
		s += p.Path
	default:
		s += p.Entry
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	if p.Repaired {
		s += " (repaired)"
	}
	return s
}

// StoreStats counts what CheckStore examined.
type StoreStats struct {
	Dirs, Files uint64 // the brick's directories (root included) and other files
	Entries     uint64 // entries of the store (gfid/ and unlink/)
	Problems    uint64 // problems reported
	Repaired    uint64 // problems repaired
}

// ErrStoreReadOnly is returned by CheckStore asked to repair a brick of a
// read-only stack.
var ErrStoreReadOnly = errors.New("gfid store repair needs a writable stack (xstack check -repair opens one)")

// CheckStore walks the brick and its gfid store and reports, to report, every
// file without its entry (or without a gfid), every entry that is stale,
// holds another gfid or has no file with a name, every file left in
// unlink/, every gfid carried by two files, and every name in the store
// that is not an entry. With repair it fixes each (duplicates excepted):
// missing entries made (and gfids assigned), wrong ones replaced, the
// others removed; a brick made before the store gets all its entries.
//
// It assumes no fop runs on the brick meanwhile: xstack check runs it on a
// stack of its own, which holds the brick's lock.
func (p *Posix) CheckStore(repair bool, report func(StoreProblem)) (StoreStats, error) {
	if repair && p.readOnly {
		return StoreStats{}, ErrStoreReadOnly
	}
	k := &storeCheck{p: p, s: &p.store, repair: repair, report: report, seen: map[xlator.GFID]seenFile{}}
	if err := k.walk(p.root.fd, "/", xlator.RootGFID); err != nil {
		return k.st, err
	}
	if k.s.fd < 0 {
		// A read-only stack on a brick no stack started since the store
		// came: none of its entries can be there.
		if k.st.Dirs+k.st.Files > 1 {
			k.problem(StoreProblem{Kind: StoreMissing, Entry: internalDir + "/" + storeDir,
				Detail: "the brick has no gfid store (it predates it): xstack check -repair makes every entry"}, nil)
		}
		return k.st, nil
	}
	if err := k.entries(); err != nil {
		return k.st, err
	}
	return k.st, k.unlinked()
}

type seenFile struct {
	path     string
	dev, ino uint64
}

// storeCheck is one run of CheckStore.
type storeCheck struct {
	p      *Posix
	s      *store
	repair bool
	report func(StoreProblem)
	seen   map[xlator.GFID]seenFile
	st     StoreStats
}

func (k *storeCheck) problem(pr StoreProblem, fix func() error) {
	if k.repair && fix != nil {
		if err := fix(); err != nil {
			pr.Detail += "; repair failed: " + err.Error()
		} else {
			pr.Repaired = true
			k.st.Repaired++
		}
	}
	k.st.Problems++
	k.report(pr)
}

func entryName(g xlator.GFID) string {
	return internalDir + "/" + storeDir + "/" + entryPath(g)
}

// walk checks the entries of the files of the directory dfd holds (an
// O_PATH fd; its path p, its gfid dg), depth first, names sorted.
func (k *storeCheck) walk(dfd int, p string, dg xlator.GFID) error {
	k.st.Dirs++
	if dg == xlator.RootGFID && k.s.fd >= 0 {
		k.dirEntry(dg, "/", rootTarget)
	}
	names, err := listDir(dfd)
	if err != nil {
		return fmt.Errorf("list %s in the brick: %w", p, err)
	}
	slices.Sort(names)
	for _, name := range names {
		if dg == xlator.RootGFID && name == internalDir {
			continue
		}
		fp := path.Join(p, name)
		fd, err := openBeneath(dfd, name, unix.O_PATH, 0)
		if err != nil {
			return fmt.Errorf("open %s in the brick: %w", fp, err)
		}
		err = k.file(fd, fp, dg, name)
		_ = unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}

// file checks the file fd holds, at path fp, named name in directory dg.
func (k *storeCheck) file(fd int, fp string, dg xlator.GFID, name string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s in the brick: %w", fp, err)
	}
	dir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR
	if !dir {
		k.st.Files++
	}
	// The stored gfid: gfidOf would derive one on a read-only brick.
	var g xlator.GFID
	var err error
	if st.Mode&syscall.S_IFMT == syscall.S_IFLNK && !k.p.privileged {
		g = linkGfid(&st)
	} else {
		g, err = k.p.readGfid(fd)
	}
	if err == syscall.ENODATA {
		k.problem(StoreProblem{Kind: StoreNoGfid, Path: fp, Detail: "made behind the stack's back and never looked up"}, func() error {
			g = xlator.NewGFID()
			if err := k.p.writeGfid(fd, g, unix.XATTR_CREATE); err != nil {
				g = xlator.GFID{}
				return err
			}
			switch {
			case !dir:
				_, err = k.s.setFileForce(fd, g)
			case !dg.IsZero():
				err = k.s.setDir(g, dirTarget(dg, name), true)
			}
			return err
		})
	} else if err != nil {
		return fmt.Errorf("read the gfid of %s in the brick: %w", fp, err)
	}
	if !g.IsZero() {
		if prev, ok := k.seen[g]; ok && (prev.dev != st.Dev || prev.ino != st.Ino) {
			k.problem(StoreProblem{Kind: StoreDuplicate, Gfid: g, Path: fp,
				Detail: fmt.Sprintf("%s carries gfid %s too: give one of them a new identity (copy it without its xattrs, then remove it)", prev.path, g)}, nil)
		} else if !ok {
			k.seen[g] = seenFile{path: fp, dev: st.Dev, ino: st.Ino}
			switch {
			case k.s.fd < 0:
			case !dir:
				k.fileEntry(fd, &st, g, fp)
			case !dg.IsZero(): // else the parent has no gfid to name
				k.dirEntry(g, fp, dirTarget(dg, name))
			}
		}
	}
	if !dir {
		return nil
	}
	sub, err := openBeneath(fd, ".", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open %s in the brick: %w", fp, err)
	}
	defer unix.Close(sub)
	return k.walk(sub, fp, g)
}

// fileEntry checks the entry of the non-directory fd holds (st, g, at fp).
func (k *storeCheck) fileEntry(fd int, st *unix.Stat_t, g xlator.GFID, fp string) {
	ep := entryPath(g)
	var est unix.Stat_t
	err := unix.Fstatat(k.s.fd, ep, &est, unix.AT_SYMLINK_NOFOLLOW)
	link := func() error {
		_, err := k.s.setFileForce(fd, g)
		return err
	}
	switch {
	case err == syscall.ENOENT:
		k.problem(StoreProblem{Kind: StoreMissing, Gfid: g, Path: fp, Entry: entryName(g)}, link)
	case err != nil:
		k.problem(StoreProblem{Kind: StoreStale, Gfid: g, Path: fp, Entry: entryName(g), Detail: "unreadable: " + err.Error()}, link)
	case est.Dev == st.Dev && est.Ino == st.Ino:
	default:
		k.problem(StoreProblem{Kind: StoreStale, Gfid: g, Path: fp, Entry: entryName(g),
			Detail: fmt.Sprintf("it is another file (inode %d, not %d)", est.Ino, st.Ino)}, link)
	}
}

// dirEntry checks the entry of directory g at fp, which should hold want.
func (k *storeCheck) dirEntry(g xlator.GFID, fp, want string) {
	var buf [320]byte
	n, err := unix.Readlinkat(k.s.fd, entryPath(g), buf[:])
	set := func() error { return k.s.setDir(g, want, true) }
	switch {
	case err == syscall.ENOENT:
		k.problem(StoreProblem{Kind: StoreMissing, Gfid: g, Path: fp, Entry: entryName(g)}, set)
	case err == syscall.EINVAL:
		k.problem(StoreProblem{Kind: StoreStale, Gfid: g, Path: fp, Entry: entryName(g), Detail: "a file, not a directory's symlink"}, set)
	case err != nil:
		k.problem(StoreProblem{Kind: StoreStale, Gfid: g, Path: fp, Entry: entryName(g), Detail: "unreadable: " + err.Error()}, set)
	case string(buf[:n]) != want:
		k.problem(StoreProblem{Kind: StoreStale, Gfid: g, Path: fp, Entry: entryName(g),
			Detail: fmt.Sprintf("it points to %q, not %q", buf[:n], want)}, set)
	}
}

// entries checks every name of the store against the files walked: names
// that are not entries, entries of no file of the brick.
func (k *storeCheck) entries() error {
	junk := func(rel, why string) {
		k.problem(StoreProblem{Kind: StoreJunk, Entry: internalDir + "/" + storeDir + "/" + rel, Detail: why}, func() error {
			return removeAllAt(k.s.fd, rel)
		})
	}
	l1, err := listDir(k.s.fd)
	if err != nil {
		return fmt.Errorf("list %s/%s: %w", internalDir, storeDir, err)
	}
	slices.Sort(l1)
	for _, a := range l1 {
		afd, err := openBeneath(k.s.fd, a, unix.O_PATH|unix.O_DIRECTORY, 0)
		if !isHexByte(a) || err != nil {
			junk(a, "not a directory of two hex digits")
			if err == nil {
				_ = unix.Close(afd)
			}
			continue
		}
		l2, err := listDir(afd)
		_ = unix.Close(afd)
		if err != nil {
			return fmt.Errorf("list %s/%s/%s: %w", internalDir, storeDir, a, err)
		}
		slices.Sort(l2)
		for _, b := range l2 {
			rel := a + "/" + b
			bfd, err := openBeneath(k.s.fd, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
			if !isHexByte(b) || err != nil {
				junk(rel, "not a directory of two hex digits")
				if err == nil {
					_ = unix.Close(bfd)
				}
				continue
			}
			names, err := listDir(bfd)
			_ = unix.Close(bfd)
			if err != nil {
				return fmt.Errorf("list %s/%s/%s: %w", internalDir, storeDir, rel, err)
			}
			slices.Sort(names)
			for _, name := range names {
				g, err := xlator.ParseGFID(name)
				if err != nil || entryPath(g) != rel+"/"+name {
					junk(rel+"/"+name, "not named by a gfid of this directory")
					continue
				}
				k.st.Entries++
				k.entry(g)
			}
		}
	}
	return nil
}

// entry checks the entry of g against the walk: an entry of a file with a
// name was checked then; any other leads nowhere or holds another gfid.
func (k *storeCheck) entry(g xlator.GFID) {
	if _, ok := k.seen[g]; ok || g == xlator.RootGFID {
		return
	}
	ep := entryPath(g)
	remove := func() error { return unix.Unlinkat(k.s.fd, ep, 0) }
	var est unix.Stat_t
	if err := unix.Fstatat(k.s.fd, ep, &est, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return
	}
	fd, err := openBeneath(k.s.fd, ep, unix.O_PATH, 0)
	if err != nil {
		return
	}
	got, gerr := k.p.gfidOf(fd, &est, false)
	_ = unix.Close(fd)
	switch {
	case gerr == nil && got == g:
		k.problem(StoreProblem{Kind: StoreOrphan, Gfid: g, Entry: entryName(g),
			Detail: fmt.Sprintf("its file (%d bytes) has no name in the brick", est.Size)}, remove)
	case est.Mode&syscall.S_IFMT == syscall.S_IFLNK:
		k.problem(StoreProblem{Kind: StoreStale, Gfid: g, Entry: entryName(g),
			Detail: "no directory of the brick carries its gfid"}, remove)
	case gerr == nil:
		k.problem(StoreProblem{Kind: StoreWrongGfid, Gfid: g, Entry: entryName(g),
			Detail: "its file carries gfid " + got.String()}, remove)
	default:
		k.problem(StoreProblem{Kind: StoreWrongGfid, Gfid: g, Entry: entryName(g),
			Detail: "its file carries no gfid"}, remove)
	}
}

// unlinked reports what unlink/ holds: nothing is open in a stack that
// serves no client, so every file there was left by a stack that stopped.
func (k *storeCheck) unlinked() error {
	if k.s.unlink < 0 {
		return nil
	}
	names, err := listDir(k.s.unlink)
	if err != nil {
		return fmt.Errorf("list %s/%s: %w", internalDir, unlinkDir, err)
	}
	slices.Sort(names)
	for _, name := range names {
		k.st.Entries++
		g, _ := xlator.ParseGFID(name)
		k.problem(StoreProblem{Kind: StoreUnlinked, Gfid: g, Entry: internalDir + "/" + unlinkDir + "/" + name,
			Detail: "a file unlinked while open, left by a stack that stopped"}, func() error {
			return unix.Unlinkat(k.s.unlink, name, 0)
		})
	}
	return nil
}

func isHexByte(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// removeAllAt removes rel beneath dirfd, a directory with its contents.
func removeAllAt(dirfd int, rel string) error {
	err := unix.Unlinkat(dirfd, rel, 0)
	if err != syscall.EISDIR && err != syscall.EPERM {
		return err
	}
	fd, err := openBeneath(dirfd, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	names, err := listDir(fd)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	_ = unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, rel, unix.AT_REMOVEDIR)
}
