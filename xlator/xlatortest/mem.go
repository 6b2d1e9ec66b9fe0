package xlatortest

import (
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// Mem is an in-memory file system at the bottom of a stack: every fop,
// with POSIX errors (ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR). It copies
// written data into its own buffers and reads into iobufs from the graph's
// pool. It does no permission checks.
type Mem struct {
	xlator.Base
	mu    sync.RWMutex
	nodes map[xlator.GFID]*memNode
	ino   uint64
}

var _ xlator.Xlator = (*Mem)(nil)

type memNode struct {
	attr   xlator.Iatt
	data   []byte
	kids   map[string]xlator.GFID
	target string
	xattr  map[string][]byte
}

// MemType is the registry entry for Mem, as type "mem".
var MemType = xlator.Type{Name: "mem", Doc: "in-memory bottom for tests", MaxChildren: 0,
	New: func() xlator.Xlator { return &Mem{} }}

// Init creates the root directory.
func (m *Mem) Init(*xlator.InitContext) error {
	m.nodes = map[xlator.GFID]*memNode{}
	m.nodes[xlator.RootGFID] = m.newNode(xlator.RootGFID, syscall.S_IFDIR|0o755)
	return nil
}

func (m *Mem) newNode(g xlator.GFID, mode uint32) *memNode {
	m.ino++
	now := xlator.TimespecOf(time.Now())
	n := &memNode{attr: xlator.Iatt{Gfid: g, Ino: m.ino, Mode: mode, Nlink: 1, Blksize: 4096,
		Atime: now, Mtime: now, Ctime: now}, xattr: map[string][]byte{}}
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		n.kids = map[string]xlator.GFID{}
		n.attr.Nlink = 2
	}
	return n
}

func (m *Mem) node(in *xlator.Inode) (*memNode, error) {
	if in == nil {
		return nil, syscall.EINVAL
	}
	n := m.nodes[in.GFID()]
	if n == nil {
		return nil, syscall.ESTALE
	}
	return n, nil
}

// byLoc finds the file a loc names: by the inode's gfid when it has one,
// else by parent and name (a fresh inode at create or lookup has no gfid
// yet).
func (m *Mem) byLoc(loc *xlator.Loc) (*memNode, error) {
	if loc.Inode != nil && !loc.Inode.GFID().IsZero() {
		if n := m.nodes[loc.Inode.GFID()]; n != nil {
			return n, nil
		}
	}
	if loc.Parent != nil {
		return m.target(loc)
	}
	return m.node(loc.Inode)
}

func (m *Mem) dir(loc *xlator.Loc) (*memNode, error) {
	if loc.Parent == nil {
		return nil, syscall.EINVAL
	}
	p, err := m.node(loc.Parent)
	if err != nil {
		return nil, err
	}
	if p.kids == nil {
		return nil, syscall.ENOTDIR
	}
	if loc.Name == "" || loc.Name == "." || loc.Name == ".." {
		return nil, syscall.EINVAL
	}
	return p, nil
}

func (m *Mem) target(loc *xlator.Loc) (*memNode, error) {
	if loc.Parent == nil {
		if loc.Inode != nil {
			return m.byLoc(loc)
		}
		return m.nodes[xlator.RootGFID], nil
	}
	p, err := m.dir(loc)
	if err != nil {
		return nil, err
	}
	g, ok := p.kids[loc.Name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return m.nodes[g], nil
}

// Lookup resolves a name.
func (m *Mem) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.target(loc)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return n.attr, nil
}

// Stat returns attributes.
func (m *Mem) Stat(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var n *memNode
	var err error
	if loc.Inode != nil {
		n, err = m.byLoc(loc)
	} else {
		n, err = m.target(loc)
	}
	if err != nil {
		return xlator.Iatt{}, err
	}
	return n.attr, nil
}

// Fstat returns attributes.
func (m *Mem) Fstat(c *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.node(fd.Inode)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return n.attr, nil
}

func (m *Mem) setattr(n *memNode, in *xlator.SetattrIn) (xlator.Iatt, error) {
	now := xlator.TimespecOf(time.Now())
	if in.Valid&xlator.SetMode != 0 {
		n.attr.Mode = n.attr.Mode&syscall.S_IFMT | in.Mode&0o7777
	}
	if in.Valid&xlator.SetUid != 0 {
		n.attr.Uid = in.Uid
	}
	if in.Valid&xlator.SetGid != 0 {
		n.attr.Gid = in.Gid
	}
	if in.Valid&xlator.SetSize != 0 {
		if n.kids != nil {
			return xlator.Iatt{}, syscall.EISDIR
		}
		m.resize(n, in.Size)
		n.attr.Mtime = now
	}
	if in.Valid&xlator.SetAtime != 0 {
		n.attr.Atime = in.Atime
	}
	if in.Valid&xlator.SetMtime != 0 {
		n.attr.Mtime = in.Mtime
	}
	if in.Valid&xlator.SetAtimeNow != 0 {
		n.attr.Atime = now
	}
	if in.Valid&xlator.SetMtimeNow != 0 {
		n.attr.Mtime = now
	}
	n.attr.Ctime = now
	return n.attr, nil
}

func (m *Mem) resize(n *memNode, size int64) {
	if int64(len(n.data)) > size {
		n.data = n.data[:size]
	} else {
		for int64(len(n.data)) < size {
			n.data = append(n.data, 0)
		}
	}
	n.attr.Size = size
	n.attr.Blocks = (size + 511) / 512
}

// Setattr changes attributes.
func (m *Mem) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return m.setattr(n, in)
}

// Fsetattr changes attributes.
func (m *Mem) Fsetattr(c *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(fd.Inode)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return m.setattr(n, in)
}

// Access succeeds for any existing file.
func (m *Mem) Access(c *xlator.Call, loc *xlator.Loc, mask uint32) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, err := m.byLoc(loc)
	return err
}

// Readlink returns a symlink's target.
func (m *Mem) Readlink(c *xlator.Call, loc *xlator.Loc) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return "", err
	}
	if n.attr.Type() != syscall.S_IFLNK {
		return "", syscall.EINVAL
	}
	return n.target, nil
}

func (m *Mem) create(loc *xlator.Loc, mode uint32) (*memNode, error) {
	p, err := m.dir(loc)
	if err != nil {
		return nil, err
	}
	if _, ok := p.kids[loc.Name]; ok {
		return nil, syscall.EEXIST
	}
	g := loc.GfidReq
	if g.IsZero() {
		g = xlator.NewGFID()
	} else if _, taken := m.nodes[g]; taken {
		return nil, syscall.EEXIST
	}
	n := m.newNode(g, mode)
	m.nodes[n.attr.Gfid] = n
	p.kids[loc.Name] = n.attr.Gfid
	if n.kids != nil {
		p.attr.Nlink++
	}
	p.attr.Mtime = n.attr.Mtime
	return n, nil
}

// Mknod creates a file.
func (m *Mem) Mknod(c *xlator.Call, loc *xlator.Loc, mode, rdev, umask uint32) (xlator.Iatt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.create(loc, mode&^umask)
	if err != nil {
		return xlator.Iatt{}, err
	}
	n.attr.Rdev = uint64(rdev)
	return n.attr, nil
}

// Mkdir creates a directory.
func (m *Mem) Mkdir(c *xlator.Call, loc *xlator.Loc, mode, umask uint32) (xlator.Iatt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.create(loc, syscall.S_IFDIR|(mode&0o7777&^umask))
	if err != nil {
		return xlator.Iatt{}, err
	}
	return n.attr, nil
}

func (m *Mem) remove(loc *xlator.Loc, dir bool) error {
	p, err := m.dir(loc)
	if err != nil {
		return err
	}
	g, ok := p.kids[loc.Name]
	if !ok {
		return syscall.ENOENT
	}
	n := m.nodes[g]
	if dir && n.kids == nil {
		return syscall.ENOTDIR
	}
	if !dir && n.kids != nil {
		return syscall.EISDIR
	}
	if dir && len(n.kids) > 0 {
		return syscall.ENOTEMPTY
	}
	delete(p.kids, loc.Name)
	if dir {
		p.attr.Nlink--
		delete(m.nodes, g)
	} else if n.attr.Nlink--; n.attr.Nlink == 0 {
		delete(m.nodes, g)
	}
	return nil
}

// Unlink removes a file.
func (m *Mem) Unlink(c *xlator.Call, loc *xlator.Loc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remove(loc, false)
}

// Rmdir removes an empty directory.
func (m *Mem) Rmdir(c *xlator.Call, loc *xlator.Loc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remove(loc, true)
}

// Symlink creates a symlink.
func (m *Mem) Symlink(c *xlator.Call, target string, loc *xlator.Loc, umask uint32) (xlator.Iatt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.create(loc, syscall.S_IFLNK|0o777)
	if err != nil {
		return xlator.Iatt{}, err
	}
	n.target = target
	n.attr.Size = int64(len(target))
	return n.attr, nil
}

// Rename moves an entry, replacing a compatible target.
func (m *Mem) Rename(c *xlator.Call, from, to *xlator.Loc, flags uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fp, err := m.dir(from)
	if err != nil {
		return err
	}
	tp, err := m.dir(to)
	if err != nil {
		return err
	}
	g, ok := fp.kids[from.Name]
	if !ok {
		return syscall.ENOENT
	}
	n := m.nodes[g]
	if old, ok := tp.kids[to.Name]; ok {
		if flags&xlator.RenameNoReplace != 0 {
			return syscall.EEXIST
		}
		if old == g {
			return nil
		}
		if err := m.remove(to, n.kids != nil); err != nil {
			return err
		}
	}
	delete(fp.kids, from.Name)
	tp.kids[to.Name] = g
	if n.kids != nil {
		fp.attr.Nlink--
		tp.attr.Nlink++
	}
	return nil
}

// Link adds a hard link.
func (m *Mem) Link(c *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(from.Inode)
	if err != nil {
		return xlator.Iatt{}, err
	}
	if n.kids != nil {
		return xlator.Iatt{}, syscall.EPERM
	}
	tp, err := m.dir(to)
	if err != nil {
		return xlator.Iatt{}, err
	}
	if _, ok := tp.kids[to.Name]; ok {
		return xlator.Iatt{}, syscall.EEXIST
	}
	tp.kids[to.Name] = n.attr.Gfid
	n.attr.Nlink++
	return n.attr, nil
}

// Create creates and opens a regular file.
func (m *Mem) Create(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fd != nil {
		fd.SetCtx(m, flags)
	}
	if p, err := m.dir(loc); err == nil {
		if g, ok := p.kids[loc.Name]; ok && flags&syscall.O_EXCL == 0 {
			n := m.nodes[g]
			if n.kids != nil {
				return xlator.Iatt{}, syscall.EISDIR
			}
			if flags&syscall.O_TRUNC != 0 {
				m.resize(n, 0)
			}
			return n.attr, nil
		}
	}
	n, err := m.create(loc, syscall.S_IFREG|(mode&0o7777&^umask))
	if err != nil {
		return xlator.Iatt{}, err
	}
	return n.attr, nil
}

// Open checks the file exists and truncates on O_TRUNC.
func (m *Mem) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return err
	}
	if n.kids != nil && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return syscall.EISDIR
	}
	if flags&syscall.O_TRUNC != 0 && n.kids == nil {
		m.resize(n, 0)
	}
	fd.SetCtx(m, flags)
	return nil
}

// Readv copies file data into an iobuf from the graph's pool.
func (m *Mem) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.node(fd.Inode)
	if err != nil {
		return nil, err
	}
	if n.kids != nil {
		return nil, syscall.EISDIR
	}
	pool := m.Iobufs()
	ref := pool.NewIobref()
	if off >= int64(len(n.data)) || size <= 0 {
		return ref, nil
	}
	src := n.data[off:]
	if len(src) > size {
		src = src[:size]
	}
	b := pool.Get(len(src))
	copy(b.Bytes(), src)
	ref.AddRange(b, 0, len(src))
	b.Unref()
	return ref, nil
}

// Writev copies the data into the file.
func (m *Mem) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(fd.Inode)
	if err != nil {
		return 0, err
	}
	flags := fd.Flags
	if f, ok := fd.Ctx(m).(uint32); ok {
		flags = f // the flags this fd was opened with below us
	}
	if flags&syscall.O_APPEND != 0 {
		off = int64(len(n.data))
	}
	end := off + int64(data.Size())
	if end > int64(len(n.data)) {
		if end <= int64(cap(n.data)) {
			old := len(n.data)
			n.data = n.data[:end]
			clear(n.data[old:]) // bytes past the old end read as zeroes
		} else {
			m.resize(n, end)
		}
		n.attr.Size = end
		n.attr.Blocks = (end + 511) / 512
	}
	pos := off
	for i := 0; i < data.Len(); i++ {
		pos += int64(copy(n.data[pos:], data.Seg(i)))
	}
	return int(pos - off), nil
}

// Flush does nothing.
func (m *Mem) Flush(c *xlator.Call, fd *xlator.FD) error { return nil }

// Fsync does nothing.
func (m *Mem) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error { return nil }

// Opendir checks the inode is a directory.
func (m *Mem) Opendir(c *xlator.Call, loc *xlator.Loc, fd *xlator.FD) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return err
	}
	if n.kids == nil {
		return syscall.ENOTDIR
	}
	return nil
}

// Readdir lists entries sorted by name; the cookie is the entry's position.
func (m *Mem) Readdir(c *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.node(fd.Inode)
	if err != nil {
		return nil, err
	}
	if n.kids == nil {
		return nil, syscall.ENOTDIR
	}
	names := make([]string, 0, len(n.kids))
	for k := range n.kids {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []xlator.Dirent
	for i := int(off); i < len(names) && len(out) < count; i++ {
		k := m.nodes[n.kids[names[i]]]
		d := xlator.Dirent{Name: names[i], Ino: k.attr.Ino, Type: k.attr.Type(), Off: int64(i + 1)}
		if plus {
			d.Attr = k.attr
		}
		out = append(out, d)
	}
	return out, nil
}

// Fsyncdir does nothing.
func (m *Mem) Fsyncdir(c *xlator.Call, fd *xlator.FD, datasync bool) error { return nil }

// Statfs reports a fixed, roomy file system.
func (m *Mem) Statfs(c *xlator.Call, loc *xlator.Loc) (xlator.Statvfs, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return xlator.Statvfs{Bsize: 4096, Frsize: 4096, Blocks: 1 << 20, Bfree: 1 << 19, Bavail: 1 << 19,
		Files: 1 << 20, Ffree: 1<<20 - uint64(len(m.nodes)), Favail: 1<<20 - uint64(len(m.nodes)), Namemax: 255}, nil
}

// Setxattr sets an xattr.
func (m *Mem) Setxattr(c *xlator.Call, loc *xlator.Loc, name string, value []byte, flags uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return err
	}
	_, exists := n.xattr[name]
	if flags&1 != 0 && exists { // XATTR_CREATE
		return syscall.EEXIST
	}
	if flags&2 != 0 && !exists { // XATTR_REPLACE
		return syscall.ENODATA
	}
	n.xattr[name] = append([]byte(nil), value...)
	return nil
}

// Getxattr returns an xattr.
func (m *Mem) Getxattr(c *xlator.Call, loc *xlator.Loc, name string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return nil, err
	}
	v, ok := n.xattr[name]
	if !ok {
		return nil, syscall.ENODATA
	}
	return append([]byte(nil), v...), nil
}

// Listxattr lists xattr names, sorted.
func (m *Mem) Listxattr(c *xlator.Call, loc *xlator.Loc) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(n.xattr))
	for k := range n.xattr {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Removexattr removes an xattr.
func (m *Mem) Removexattr(c *xlator.Call, loc *xlator.Loc, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.byLoc(loc)
	if err != nil {
		return err
	}
	if _, ok := n.xattr[name]; !ok {
		return syscall.ENODATA
	}
	delete(n.xattr, name)
	return nil
}

func (m *Mem) zero(n *memNode, off, length int64, extend bool) {
	end := off + length
	if end > int64(len(n.data)) {
		if !extend {
			end = int64(len(n.data))
		} else {
			m.resize(n, end)
		}
	}
	for i := off; i < end; i++ {
		n.data[i] = 0
	}
}

// Fallocate implements keep-size, punch-hole and zero-range on memory.
func (m *Mem) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(fd.Inode)
	if err != nil {
		return err
	}
	keep := mode&xlator.FallocKeepSize != 0
	switch {
	case mode&xlator.FallocPunchHole != 0:
		if !keep {
			return syscall.EOPNOTSUPP
		}
		m.zero(n, off, length, false)
	case mode&xlator.FallocZeroRange != 0:
		m.zero(n, off, length, !keep)
	default:
		if !keep && off+length > int64(len(n.data)) {
			m.resize(n, off+length)
		}
	}
	return nil
}

// Discard zeroes a range inside the file.
func (m *Mem) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	return m.Fallocate(c, fd, xlator.FallocPunchHole|xlator.FallocKeepSize, off, length)
}

// Zerofill zeroes a range, extending the file.
func (m *Mem) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.node(fd.Inode)
	if err != nil {
		return err
	}
	m.zero(n, off, length, true)
	return nil
}
