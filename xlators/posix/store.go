package posix

import (
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// The gfid handle store (GlusterFS's .glusterfs) lives in the brick's
// private directory, which is already hidden from clients, never counted
// as a file of the brick and never created by them: no second name needs
// hiding. See the package documentation ("Gfid handle store").
const (
	storeDir  = "gfid"   // .xstack/gfid/ab/cd/<gfid>
	unlinkDir = "unlink" // .xstack/unlink/<gfid>: unlinked while open

	// rootTarget is the root's entry: from .xstack/gfid/00/00/ four
	// levels up is the brick root.
	rootTarget = "../../../.."
	// maxDirDepth bounds the chain of directory entries followed to
	// resolve one gfid, so that a loop of symlinks edited into the store
	// ends.
	maxDirDepth = 4096
	pinStripes  = 16
)

// store keeps one entry per gfid of the brick: a hard link for every
// non-directory, a symlink "../../<pa>/<pb>/<parent gfid>/<name>" for every
// directory. It is read by the fops that cannot reach a file by a name
// (resolveGfid) and kept in step by the entry fops. Safe for concurrent use.
type store struct {
	p      *Posix
	fd     int // O_PATH on .xstack/gfid; -1 when the brick has none (read-only)
	unlink int // O_PATH on .xstack/unlink; -1 likewise

	tmp   atomic.Uint64 // names of entries being replaced
	pins  [pinStripes]pinStripe
	stats storeCounters
}

// storeCounters are the store's statedump counters (gfid-store.*).
type storeCounters struct {
	resolved atomic.Int64 // fops that reached a file through the store
	stale    atomic.Int64 // entries found stale and not followed
	repaired atomic.Int64 // entries created or replaced at lookup
	errors   atomic.Int64 // entries that could not be kept in step
}

// pinStripe counts the open fds of each gfid, so that the last name of an
// open file moves its entry to unlink/ instead of removing it, and the last
// release removes it from there.
type pinStripe struct {
	mu sync.Mutex
	m  map[xlator.GFID]pin
}

type pin struct {
	n        int32
	unlinked bool // the entry is in unlink/
}

// entryPath returns g's entry relative to the store: "ab/cd/<gfid>".
func entryPath(g xlator.GFID) string {
	var b [6 + 36]byte
	hex.Encode(b[0:2], g[0:1])
	b[2] = '/'
	hex.Encode(b[3:5], g[1:2])
	b[5] = '/'
	s := g.String()
	copy(b[6:], s)
	return string(b[:])
}

// dirTarget is the symlink a directory's entry holds: its parent's entry,
// then its name. Only the parent is named, so renaming an ancestor leaves
// it right.
func dirTarget(parent xlator.GFID, name string) string {
	return "../../" + entryPath(parent) + "/" + name
}

// parseTarget is dirTarget's inverse. root says the target is the root's.
func parseTarget(t string) (parent xlator.GFID, name string, root bool, ok bool) {
	if t == rootTarget {
		return xlator.GFID{}, "", true, true
	}
	rest, found := strings.CutPrefix(t, "../../")
	if !found || len(rest) < 6+36+2 || rest[2] != '/' || rest[5] != '/' || rest[6+36] != '/' {
		return xlator.GFID{}, "", false, false
	}
	g, err := xlator.ParseGFID(rest[6 : 6+36])
	if err != nil || entryPath(g) != rest[:6+36] {
		return xlator.GFID{}, "", false, false
	}
	name = rest[6+36+1:]
	if checkName(name) != nil {
		return xlator.GFID{}, "", false, false
	}
	return g, name, false, true
}

// openStore opens the store, creating its directories and the root's
// entry unless the brick is read-only, and removes what unlink/ holds:
// nothing is open when a stack starts, so those are files whose last fd
// went with a crashed stack.
func (s *store) openStore(p *Posix) error {
	s.p, s.fd, s.unlink = p, -1, -1
	for i := range s.pins {
		s.pins[i].m = map[xlator.GFID]pin{}
	}
	dfd, err := openBeneath(p.root.fd, internalDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == syscall.ENOENT && p.readOnly {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	open := func(name string) (int, error) {
		if !p.readOnly {
			if err := unix.Mkdirat(dfd, name, 0o700); err != nil && err != syscall.EEXIST {
				return -1, err
			}
		}
		fd, err := openBeneath(dfd, name, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err == syscall.ENOENT && p.readOnly {
			return -1, nil
		}
		return fd, err
	}
	if s.fd, err = open(storeDir); err != nil {
		return err
	}
	if s.unlink, err = open(unlinkDir); err != nil {
		s.close()
		return err
	}
	if p.readOnly || s.fd < 0 {
		return nil
	}
	if n, err := s.purgeUnlinked(); err != nil {
		p.Logger().Warn("could not empty the store's unlink directory", zap.Error(err))
	} else if n > 0 {
		p.Logger().Info("removed files unlinked while open by the previous stack", zap.Int("files", n))
	}
	return s.setDir(xlator.RootGFID, rootTarget, true)
}

// purgeUnlinked removes every entry of unlink/ and returns how many.
func (s *store) purgeUnlinked() (int, error) {
	names, err := listDir(s.unlink)
	n := 0
	for _, name := range names {
		if unix.Unlinkat(s.unlink, name, 0) == nil {
			n++
		}
	}
	return n, err
}

// listDir returns the names in the directory fd holds (an O_PATH fd).
func listDir(fd int) ([]string, error) {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	dc := dirCtx{fd: dfd}
	err = dc.snapshot()
	_ = unix.Close(dfd)
	names := make([]string, len(dc.ents))
	for i, e := range dc.ents {
		names[i] = e.name
	}
	return names, err
}

func (s *store) close() {
	if s.p == nil {
		return // never opened
	}
	for _, fd := range []*int{&s.fd, &s.unlink} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// on reports whether entries are kept in step: a writable brick.
func (s *store) on() bool { return s.fd >= 0 && !s.p.readOnly }

// failed counts an entry that could not be kept in step; the first is
// logged as a warning (the brick may be full or the store damaged), the
// others at debug level, and xstack check finds them all.
func (s *store) failed(what string, g xlator.GFID, err error) {
	log := s.p.Logger().Debug
	if s.stats.errors.Add(1) == 1 {
		log = s.p.Logger().Warn
	}
	log("gfid store entry not kept in step; xstack check -repair restores it", zap.String("op", what),
		zap.Stringer("gfid", g), zap.Error(err))
}

// mkParents creates the two directory levels of g's entry.
func (s *store) mkParents(g xlator.GFID) error {
	p := entryPath(g)
	for _, d := range []string{p[:2], p[:5]} {
		if err := unix.Mkdirat(s.fd, d, 0o700); err != nil && err != syscall.EEXIST {
			return err
		}
	}
	return nil
}

// setFile makes g's entry a hard link to the file fd holds (st is its
// stat), unless it already is one, and reports whether it is one after.
// An entry for another inode is replaced only when it is stale (it has no
// other name, or does not carry g); a live file of the same gfid keeps it
// (a duplicate gfid, which xstack check reports).
func (s *store) setFile(fd int, st *unix.Stat_t, g xlator.GFID) (bool, error) {
	path := entryPath(g)
	var est unix.Stat_t
	err := unix.Fstatat(s.fd, path, &est, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && est.Dev == st.Dev && est.Ino == st.Ino:
		return true, nil
	case err == nil:
		if !s.staleEntry(path, &est, g) {
			return false, nil
		}
		err := s.replace(path, func(tmp string) error {
			return unix.Linkat(unix.AT_FDCWD, procPath(fd), s.fd, tmp, unix.AT_SYMLINK_FOLLOW)
		})
		return err == nil, err
	case err != syscall.ENOENT:
		return false, err
	}
	link := func() error { return unix.Linkat(unix.AT_FDCWD, procPath(fd), s.fd, path, unix.AT_SYMLINK_FOLLOW) }
	err = link()
	if err == syscall.ENOENT {
		if err := s.mkParents(g); err != nil {
			return false, err
		}
		err = link()
	}
	if err == syscall.EEXIST { // another fop made it meanwhile
		return s.setFile(fd, st, g)
	}
	return err == nil, err
}

// setFileForce makes g's entry a hard link to the file fd holds, whatever
// the entry was (xstack check -repair).
func (s *store) setFileForce(fd int, g xlator.GFID) (bool, error) {
	if err := s.mkParents(g); err != nil {
		return false, err
	}
	err := s.replace(entryPath(g), func(tmp string) error {
		return unix.Linkat(unix.AT_FDCWD, procPath(fd), s.fd, tmp, unix.AT_SYMLINK_FOLLOW)
	})
	return err == nil, err
}

// setDir makes g's entry the symlink target. Unless force, an entry that
// still leads to a directory carrying g is kept (a duplicate gfid).
func (s *store) setDir(g xlator.GFID, target string, force bool) error {
	path := entryPath(g)
	var buf [320]byte
	n, err := unix.Readlinkat(s.fd, path, buf[:])
	switch {
	case err == nil && n < len(buf) && string(buf[:n]) == target:
		return nil
	case err == nil || err == syscall.EINVAL: // another target, or not a symlink
		if !force {
			var est unix.Stat_t
			if unix.Fstatat(s.fd, path, &est, unix.AT_SYMLINK_NOFOLLOW) == nil && !s.staleEntry(path, &est, g) {
				return nil
			}
		}
		return s.replace(path, func(tmp string) error { return unix.Symlinkat(target, s.fd, tmp) })
	case err != syscall.ENOENT:
		return err
	}
	err = unix.Symlinkat(target, s.fd, path)
	if err == syscall.ENOENT {
		if err := s.mkParents(g); err != nil {
			return err
		}
		err = unix.Symlinkat(target, s.fd, path)
	}
	if err == syscall.EEXIST {
		return s.setDir(g, target, force)
	}
	return err
}

// replace makes a new entry beside path with mk and renames it over path,
// so that the entry is never missing.
func (s *store) replace(path string, mk func(tmp string) error) error {
	tmp := path[:6] + ".tmp." + strconv.FormatUint(s.tmp.Add(1), 10)
	if err := mk(tmp); err != nil {
		return err
	}
	if err := unix.Renameat(s.fd, tmp, s.fd, path); err != nil {
		_ = unix.Unlinkat(s.fd, tmp, 0)
		return err
	}
	s.stats.repaired.Add(1)
	return nil
}

// staleEntry reports whether the entry at path (est is its lstat) may be
// replaced: it leads nowhere, to a file that does not carry g, or to a file
// with no name but this entry.
func (s *store) staleEntry(path string, est *unix.Stat_t, g xlator.GFID) bool {
	fd, err := s.openEntry(path, est, g, 0)
	if err != nil {
		return true
	}
	_ = unix.Close(fd)
	return false
}

// resolveGfid returns an O_PATH fd on the live file that carries g, found
// through the store: its entry in gfid/ (a hard link, or a directory's
// symlink followed one parent at a time, each found by name and checked),
// else in unlink/ (an open file whose last name is gone). ENOENT: the
// store has no entry for g (the file is gone, or the brick predates the
// store and no lookup made one); ESTALE: the entry is stale and was not
// followed.
func (s *store) resolveGfid(g xlator.GFID) (int, error) {
	if g == xlator.RootGFID {
		return openBeneath(s.p.root.fd, ".", unix.O_PATH|unix.O_DIRECTORY, 0)
	}
	if s.fd < 0 || g.IsZero() {
		return -1, syscall.ENOENT
	}
	fd, err := s.openDepth(g, 0)
	if err == syscall.ENOENT && s.unlink >= 0 {
		fd, err = s.openUnlinked(g)
	}
	switch err {
	case nil:
		s.stats.resolved.Add(1)
	case syscall.ESTALE:
		s.stats.stale.Add(1)
	}
	return fd, err
}

func (s *store) openDepth(g xlator.GFID, depth int) (int, error) {
	if g == xlator.RootGFID {
		return openBeneath(s.p.root.fd, ".", unix.O_PATH|unix.O_DIRECTORY, 0)
	}
	path := entryPath(g)
	var est unix.Stat_t
	if err := unix.Fstatat(s.fd, path, &est, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return -1, err
	}
	return s.openEntry(path, &est, g, depth)
}

// openEntry opens the file the entry at path leads to (est is the entry's
// lstat) and checks that it carries g and, for a hard link, that it has a
// name besides the entry: an entry whose file was removed from the brick
// behind the stack's back leads nowhere (ENOENT).
func (s *store) openEntry(path string, est *unix.Stat_t, g xlator.GFID, depth int) (int, error) {
	fd, err := openBeneath(s.fd, path, unix.O_PATH, 0)
	if err != nil {
		return -1, err
	}
	if got, err := s.p.gfidOf(fd, est, false); err == nil && got == g {
		if est.Nlink < 2 {
			_ = unix.Close(fd)
			return -1, syscall.ENOENT
		}
		return fd, nil // a hard link (to a file, or to a symlink)
	}
	if est.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		_ = unix.Close(fd)
		return -1, syscall.ESTALE // a file of another gfid
	}
	// A directory's entry: its parent's entry, then its name.
	var buf [320]byte
	n, err := unix.Readlinkat(fd, "", buf[:])
	_ = unix.Close(fd)
	if err != nil {
		return -1, err
	}
	parent, name, root, ok := parseTarget(string(buf[:n]))
	if !ok || root || depth >= maxDirDepth {
		return -1, syscall.ESTALE
	}
	pfd, err := s.openDepth(parent, depth+1)
	if err != nil {
		return -1, syscall.ESTALE // the parent is gone or stale: so is this entry
	}
	fd, err = openBeneath(pfd, name, unix.O_PATH|unix.O_DIRECTORY, 0)
	_ = unix.Close(pfd)
	if err != nil {
		return -1, syscall.ESTALE
	}
	if got, err := s.p.readGfid(fd); err != nil || got != g {
		_ = unix.Close(fd)
		return -1, syscall.ESTALE
	}
	return fd, nil
}

// openUnlinked opens g's entry in unlink/, checked to carry g.
func (s *store) openUnlinked(g xlator.GFID) (int, error) {
	fd, err := openBeneath(s.unlink, g.String(), unix.O_PATH, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	if got, err := s.p.gfidOf(fd, &st, false); err != nil || got != g {
		_ = unix.Close(fd)
		return -1, syscall.ESTALE
	}
	return fd, nil
}

func (s *store) stripe(g xlator.GFID) *pinStripe { return &s.pins[g[15]%pinStripes] }

// pin counts an open fd of g (a no-op for the zero gfid).
func (s *store) pin(g xlator.GFID) {
	if g.IsZero() {
		return
	}
	ps := s.stripe(g)
	ps.mu.Lock()
	pn := ps.m[g]
	pn.n++
	ps.m[g] = pn
	ps.mu.Unlock()
}

// unpin drops an open fd of g; the last one removes g's entry from
// unlink/ when the file's last name went while it was open.
func (s *store) unpin(g xlator.GFID) {
	if g.IsZero() {
		return
	}
	ps := s.stripe(g)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pn := ps.m[g]
	if pn.n--; pn.n > 0 {
		ps.m[g] = pn
		return
	}
	delete(ps.m, g)
	if pn.unlinked {
		if err := unix.Unlinkat(s.unlink, g.String(), 0); err != nil && err != syscall.ENOENT {
			s.failed("release", g, err)
		}
	}
}

// openUnlinkedCount returns how many files are open with no name left.
func (s *store) openUnlinkedCount() int {
	n := 0
	for i := range s.pins {
		ps := &s.pins[i]
		ps.mu.Lock()
		for _, pn := range ps.m {
			if pn.unlinked {
				n++
			}
		}
		ps.mu.Unlock()
	}
	return n
}

// victim is a file about to lose a name (unlink, rmdir, rename over it):
// an O_PATH fd on it and its gfid, taken before the fop, since a removed
// directory's xattrs may no longer be readable. fd is -1 when there is
// nothing to update: the store is off, the name is missing, or the file
// never got a gfid (so never an entry).
type victim struct {
	fd  int
	g   xlator.GFID
	dir bool
}

func (s *store) victimOf(dirfd int, name string) victim {
	if !s.on() {
		return victim{fd: -1}
	}
	fd, err := openBeneath(dirfd, name, unix.O_PATH, 0)
	if err != nil {
		return victim{fd: -1}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return victim{fd: -1}
	}
	g, err := s.p.gfidOf(fd, &st, false)
	if err != nil {
		_ = unix.Close(fd)
		return victim{fd: -1}
	}
	return victim{fd: fd, g: g, dir: st.Mode&syscall.S_IFMT == syscall.S_IFDIR}
}

func (v victim) close() {
	if v.fd >= 0 {
		_ = unix.Close(v.fd)
	}
}

// nameGone updates the store after v lost a name. A directory's entry is
// removed. A non-directory's entry goes when it is the file's last link:
// removed, or moved to unlink/ while the file is open, so that the open
// file stays reachable by gfid and its space is freed at the last
// release.
func (s *store) nameGone(v victim) {
	if v.fd < 0 {
		return
	}
	path := entryPath(v.g)
	var est unix.Stat_t
	if unix.Fstatat(s.fd, path, &est, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return
	}
	if v.dir {
		if est.Mode&syscall.S_IFMT == syscall.S_IFLNK {
			if err := unix.Unlinkat(s.fd, path, 0); err != nil {
				s.failed("rmdir", v.g, err)
			}
		}
		return
	}
	var st unix.Stat_t
	if unix.Fstat(v.fd, &st) != nil || st.Nlink != 1 || est.Dev != st.Dev || est.Ino != st.Ino {
		return // other names remain, or the entry is not this file's
	}
	ps := s.stripe(v.g)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	pn, open := ps.m[v.g]
	if !open {
		if err := unix.Unlinkat(s.fd, path, 0); err != nil {
			s.failed("unlink", v.g, err)
		}
		return
	}
	if err := unix.Renameat(s.fd, path, s.unlink, v.g.String()); err != nil {
		s.failed("unlink while open", v.g, err)
		return
	}
	pn.unlinked = true
	ps.m[v.g] = pn
}

// dirMoved points the entry of directory g at its new parent and name
// (after a mkdir or a rename).
func (s *store) dirMoved(g, parent xlator.GFID, name string) {
	if !s.on() || g.IsZero() || parent.IsZero() {
		return
	}
	if err := s.setDir(g, dirTarget(parent, name), true); err != nil {
		s.failed("directory entry", g, err)
	}
}

// fileMade gives the new non-directory fd holds (ia its attributes) its
// entry.
func (s *store) fileMade(fd int, ia *xlator.Iatt) {
	if !s.on() {
		return
	}
	// A new gfid has no entry yet: link first, look only if one is there.
	err := unix.Linkat(unix.AT_FDCWD, procPath(fd), s.fd, entryPath(ia.Gfid), unix.AT_SYMLINK_FOLLOW)
	if err == syscall.ENOENT || err == syscall.EEXIST {
		st := unix.Stat_t{Dev: ia.Dev, Ino: ia.Ino, Mode: ia.Mode}
		_, err = s.setFile(fd, &st, ia.Gfid)
	}
	if err != nil {
		s.failed("file entry", ia.Gfid, err)
	}
}

// hideLink takes the store's links to a non-directory out of st.Nlink
// (its entry in gfid/, and in unlink/ while it is open with no name), so
// that clients count only the names they made: 1 for a new file, 0 for an
// open file whose last name is gone.
func (s *store) hideLink(st *unix.Stat_t, g xlator.GFID) {
	if s.fd < 0 || st.Nlink == 0 || st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return
	}
	ps := s.stripe(g)
	ps.mu.Lock()
	unlinked := ps.m[g].unlinked
	ps.mu.Unlock()
	if unlinked {
		st.Nlink--
	}
	var est unix.Stat_t
	if st.Nlink > 0 && unix.Fstatat(s.fd, entryPath(g), &est, unix.AT_SYMLINK_NOFOLLOW) == nil &&
		est.Dev == st.Dev && est.Ino == st.Ino {
		st.Nlink--
	}
}

// found checks, at lookup, the entry of a file found by name (fd, ia) in
// the directory of gfid parent, creating a missing one (a brick that
// predates the store, a file made behind the stack's back) and replacing
// a stale one.
func (s *store) found(fd int, ia *xlator.Iatt, parent xlator.GFID, name string) {
	if !s.on() || ia.Gfid == xlator.RootGFID {
		return
	}
	if ia.IsDir() {
		if parent.IsZero() {
			return
		}
		if err := s.setDir(ia.Gfid, dirTarget(parent, name), false); err != nil {
			s.failed("lookup", ia.Gfid, err)
		}
		return
	}
	st := unix.Stat_t{Dev: ia.Dev, Ino: ia.Ino, Mode: ia.Mode}
	if _, err := s.setFile(fd, &st, ia.Gfid); err != nil {
		s.failed("lookup", ia.Gfid, err)
	}
}

// gfidOfParent returns the gfid of the directory parent (an inode of the
// graph, nil for the root), read from its handle ph when the inode does
// not know it.
func (p *Posix) gfidOfParent(parent *xlator.Inode, ph *handle) xlator.GFID {
	if isRoot(parent) || ph == p.root {
		return xlator.RootGFID
	}
	if g := parent.GFID(); !g.IsZero() {
		return g
	}
	g, _ := p.readGfid(ph.fd)
	return g
}
