package posix

import (
	"encoding/binary"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// dirCtx is the posix state of an open directory, kept in the fd's context
// slot and pooled (the "dir-ctx" pool): an O_RDONLY|O_DIRECTORY fd and the
// listing snapshot that readdir cookies index into.
//
// Cookies: a listing is read whole (getdents order) when a Readdir starts
// at offset 0, and entry i carries cookie i+1. A later Readdir with cookie
// k continues at entry k of the same snapshot, so a client paging through
// the directory sees every entry that existed at the start exactly once,
// whatever is created or removed meanwhile. The cost is memory for the
// names of one listing per open directory.
type dirCtx struct {
	fd   int
	root bool // the brick root: hide the private directory

	mu   sync.Mutex
	ents []dent
	buf  []byte
}

type dent struct {
	name string
	ino  uint64
	typ  uint32
}

// dirOf returns the dirCtx of an open directory fd.
func (p *Posix) dirOf(fd *xlator.FD) (*dirCtx, error) {
	if err := p.up(); err != nil {
		return nil, err
	}
	dc, ok := fd.Ctx(p).(*dirCtx)
	if !ok || dc == nil {
		return nil, syscall.EBADF
	}
	return dc, nil
}

// Opendir opens loc's directory (through its handle when cached) into fd.
func (p *Posix) Opendir(c *xlator.Call, loc *xlator.Loc, fd *xlator.FD) error {
	if err := p.up(); err != nil {
		return err
	}
	var osfd int
	var err error
	if in := loc.Inode; in != nil && (isRoot(in) || in.Ctx(p) != nil) && (loc.Parent == nil || in.Type() == syscall.S_IFDIR) {
		h, herr := p.dirHandle(in)
		if herr != nil {
			return herr
		}
		osfd, err = openBeneath(h.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		h.release()
	} else {
		osfd, err = p.openTarget(loc, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	}
	if err != nil {
		return err
	}
	dc := p.dirPool.Get()
	dc.fd = osfd
	dc.root = (loc.Parent == nil && isRoot(loc.Inode)) || isRoot(fd.Inode)
	dc.ents = dc.ents[:0]
	fd.SetCtx(p, dc)
	p.openDirs.Add(1)
	return nil
}

// Releasedir closes an open directory and returns its context to the pool.
func (p *Posix) Releasedir(fd *xlator.FD) {
	dc, ok := fd.DelCtx(p).(*dirCtx)
	if !ok || dc == nil {
		return
	}
	_ = unix.Close(dc.fd)
	dc.fd = -1
	clear(dc.ents)
	dc.ents = dc.ents[:0]
	_ = p.dirPool.Put(dc)
	p.openDirs.Add(-1)
}

// Fsyncdir syncs the directory as the fsync option says.
func (p *Posix) Fsyncdir(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	dc, err := p.dirOf(fd)
	if err != nil {
		return err
	}
	return p.sync(dc.fd, datasync)
}

// Readdir returns up to count entries after cookie off ("." and ".." and
// the brick's private directory left out). With plus, each entry carries
// its attributes with its gfid, and gets its gfid store entry as at
// lookup; an entry removed since the snapshot is skipped.
func (p *Posix) Readdir(c *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	dc, err := p.dirOf(fd)
	if err != nil {
		return nil, err
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if off == 0 || len(dc.ents) == 0 {
		if err := dc.snapshot(); err != nil {
			return nil, err
		}
	}
	if off < 0 || off >= int64(len(dc.ents)) || count <= 0 {
		return nil, nil
	}
	out := make([]xlator.Dirent, 0, min(count, len(dc.ents)-int(off)))
	pg := xlator.RootGFID
	if !dc.root {
		pg = fd.Inode.GFID()
	}
	for i := int(off); i < len(dc.ents) && len(out) < count; i++ {
		e := dc.ents[i]
		d := xlator.Dirent{Name: e.name, Ino: e.ino, Type: e.typ, Off: int64(i + 1)}
		if plus || d.Type == 0 {
			efd, err := openBeneath(dc.fd, e.name, unix.O_PATH, 0)
			if err != nil {
				continue // gone since the snapshot
			}
			ia, err := p.statFd(efd, false)
			if err == nil && plus {
				// Clients make inodes of these without a lookup.
				p.store.found(efd, &ia, pg, e.name)
			}
			_ = unix.Close(efd)
			if err != nil {
				continue
			}
			d.Type, d.Ino = ia.Type(), ia.Ino
			if plus {
				d.Attr = ia
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// snapshot reads the whole directory from its start. dc.mu is held.
func (dc *dirCtx) snapshot() error {
	if _, err := unix.Seek(dc.fd, 0, 0); err != nil {
		return err
	}
	if dc.buf == nil {
		dc.buf = make([]byte, 32<<10)
	}
	clear(dc.ents)
	dc.ents = dc.ents[:0]
	for {
		n, err := unix.Getdents(dc.fd, dc.buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		dc.parse(dc.buf[:n])
	}
}

// parse appends the linux_dirent64 records of b.
func (dc *dirCtx) parse(b []byte) {
	const nameOff = int(unsafe.Offsetof(unix.Dirent{}.Name))
	for len(b) >= nameOff {
		ino := binary.NativeEndian.Uint64(b[0:])
		reclen := int(binary.NativeEndian.Uint16(b[16:]))
		typ := b[18]
		if reclen < nameOff || reclen > len(b) {
			return
		}
		name := b[nameOff:reclen]
		for i, ch := range name {
			if ch == 0 {
				name = name[:i]
				break
			}
		}
		b = b[reclen:]
		s := string(name)
		if s == "." || s == ".." || (dc.root && s == internalDir) {
			continue
		}
		dc.ents = append(dc.ents, dent{name: s, ino: ino, typ: dtType(typ)})
	}
}

// dtType maps a d_type to S_IFMT bits (0 for DT_UNKNOWN).
func dtType(t uint8) uint32 {
	switch t {
	case unix.DT_REG:
		return syscall.S_IFREG
	case unix.DT_DIR:
		return syscall.S_IFDIR
	case unix.DT_LNK:
		return syscall.S_IFLNK
	case unix.DT_FIFO:
		return syscall.S_IFIFO
	case unix.DT_SOCK:
		return syscall.S_IFSOCK
	case unix.DT_CHR:
		return syscall.S_IFCHR
	case unix.DT_BLK:
		return syscall.S_IFBLK
	}
	return 0
}
