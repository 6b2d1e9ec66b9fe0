package api

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xstack/xstack/xlator"
)

// maxIO bounds one readv/writev: the largest iobuf class.
const maxIO = 1 << 20

// File is an open file or directory of a Volume. It implements io.Reader,
// io.Writer, io.ReaderAt, io.WriterAt, io.Seeker and io.Closer, and
// fs.File and fs.ReadDirFile.
type File struct {
	*file
	v *Volume // the view the file's fops go through: their context
}

// file is what a File and its views (WithContext) share.
type file struct {
	name  string
	fd    *xlator.FD
	dir   bool
	owner uint64 // the lock owner of the File's locks (lock.go)

	mu     sync.Mutex // guards off, closed, dirOff
	off    int64
	closed bool
	dirOff int64
}

func (v *Volume) newFile(name string, fd *xlator.FD, dir bool) *File {
	return &File{file: &file{name: name, fd: fd, dir: dir, owner: newLockOwner()}, v: v}
}

// WithContext returns a view of f whose fops carry ctx, as
// Volume.WithContext does for a volume. The view shares the open file
// with f: its offset, and its Close, which closes both.
func (f *File) WithContext(ctx context.Context) *File {
	return &File{file: f.file, v: f.v.WithContext(ctx)}
}

// Create creates or truncates name for reading and writing (mode 0666
// before the umask), as os.Create does.
func (v *Volume) Create(name string) (*File, error) {
	return v.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Open opens name for reading.
func (v *Volume) Open(name string) (*File, error) {
	return v.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name with os.O_* flags, creating it with perm (before the
// umask) when O_CREATE is given.
func (v *Volume) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	c := v.begin(xlator.FopOpen)
	defer c.Done()
	parts, err := split(name)
	if err != nil {
		return nil, v.pathErr("open", name, err)
	}
	tab := v.g.Inodes()
	flags := uint32(flag) &^ uint32(os.O_CREATE|os.O_EXCL)
	if flag&os.O_CREATE != 0 && len(parts) > 0 {
		parent, base, err := v.resolveParent(c, name)
		if err != nil {
			return nil, v.pathErr("open", name, err)
		}
		defer parent.Unref()
		ia, lerr := v.g.Top().Lookup(c, &xlator.Loc{Parent: parent, Name: base})
		switch {
		case lerr == nil && flag&os.O_EXCL != 0:
			return nil, v.pathErr("open", name, syscall.EEXIST)
		case lerr == nil:
			in := tab.Link(nil, parent, base, &ia)
			defer in.Unref()
			return v.open(c, name, in, ia, flags)
		case !errors.Is(lerr, syscall.ENOENT):
			return nil, v.pathErr("open", name, lerr)
		}
		in := tab.New()
		defer in.Unref()
		fd := v.g.NewFD(in, flags, v.creds.Pid, false)
		ia, err = v.g.Top().Create(c, &xlator.Loc{Parent: parent, Name: base, Inode: in}, uint32(flag), uint32(perm.Perm())|modeExtra(perm), v.umask.Load(), fd)
		if err != nil {
			fd.Unref()
			return nil, v.pathErr("open", name, err)
		}
		linked := tab.Link(in, parent, base, &ia)
		linked.Unref()
		return v.newFile(name, fd, false), nil
	}
	in, ia, err := v.resolve(c, parts)
	if err != nil {
		return nil, v.pathErr("open", name, err)
	}
	defer in.Unref()
	return v.open(c, name, in, ia, flags)
}

func (v *Volume) open(c *xlator.Call, name string, in *xlator.Inode, ia xlator.Iatt, flags uint32) (*File, error) {
	loc := &xlator.Loc{Inode: in}
	if ia.IsDir() {
		if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
			return nil, v.pathErr("open", name, syscall.EISDIR)
		}
		fd := v.g.NewFD(in, flags, v.creds.Pid, true)
		if err := v.g.Top().Opendir(c, loc, fd); err != nil {
			fd.Unref()
			return nil, v.pathErr("open", name, err)
		}
		return v.newFile(name, fd, true), nil
	}
	if ia.IsSymlink() {
		return nil, v.pathErr("open", name, syscall.ELOOP)
	}
	fd := v.g.NewFD(in, flags, v.creds.Pid, false)
	if err := v.g.Top().Open(c, loc, flags, fd); err != nil {
		fd.Unref()
		return nil, v.pathErr("open", name, err)
	}
	return v.newFile(name, fd, false), nil
}

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

// ReadAt reads len(p) bytes at off; it returns io.EOF when fewer are left.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, f.v.pathErr("read", f.name, syscall.EINVAL)
	}
	if f.dir {
		return 0, f.v.pathErr("read", f.name, syscall.EISDIR)
	}
	c := f.v.begin(xlator.FopReadv)
	defer c.Done()
	n := 0
	for n < len(p) {
		want := min(len(p)-n, maxIO)
		ref, err := f.v.g.Top().Readv(c, f.fd, want, off+int64(n))
		if err != nil {
			return n, f.v.pathErr("read", f.name, err)
		}
		got := ref.CopyTo(p[n : n+want])
		ref.Unref()
		n += got
		if got < want {
			return n, io.EOF
		}
	}
	return n, nil
}

// WriteAt writes p at off.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, f.v.pathErr("write", f.name, syscall.EINVAL)
	}
	if f.dir {
		return 0, f.v.pathErr("write", f.name, syscall.EISDIR)
	}
	c := f.v.begin(xlator.FopWritev)
	defer c.Done()
	pool := f.v.g.Env().Iobufs
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+maxIO)]
		data := pool.FromBytes(chunk)
		w, err := f.v.g.Top().Writev(c, f.fd, data, off+int64(n))
		data.Unref()
		n += w
		if err != nil {
			return n, f.v.pathErr("write", f.name, err)
		}
		if w < len(chunk) {
			return n, f.v.pathErr("write", f.name, io.ErrShortWrite)
		}
	}
	return n, nil
}

// Read reads from the file's offset.
func (f *File) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// Write writes at the file's offset (at the end with O_APPEND).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.WriteAt(p, f.off)
	if f.fd.Flags&syscall.O_APPEND != 0 {
		if fi, serr := f.stat(); serr == nil {
			f.off = fi.Size
		}
	} else {
		f.off += int64(n)
	}
	return n, err
}

// Seek sets the offset for the next Read or Write. Besides io.SeekStart,
// io.SeekCurrent and io.SeekEnd, whence may be SeekData or SeekHole, as
// lseek(2)'s SEEK_DATA and SEEK_HOLE: the offset of the first data or
// hole at or after offset (the end of the file counts as a hole; ENXIO
// when there is no data after offset, or offset is at or past the end).
// A volume that cannot tell holes from data takes the whole file as data.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case SeekData, SeekHole:
		off, err := f.seekData(offset, whence)
		if err != nil {
			return 0, f.v.pathErr("seek", f.name, err)
		}
		f.off = off
		return off, nil
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		ia, err := f.stat()
		if err != nil {
			return 0, f.v.pathErr("seek", f.name, err)
		}
		base = ia.Size
	default:
		return 0, f.v.pathErr("seek", f.name, syscall.EINVAL)
	}
	if base+offset < 0 {
		return 0, f.v.pathErr("seek", f.name, syscall.EINVAL)
	}
	f.off = base + offset
	return f.off, nil
}

// Seek's whence values beside io's, as lseek(2)'s.
const (
	SeekData = int(xlator.SeekData)
	SeekHole = int(xlator.SeekHole)
)

// seekData is Seek's SEEK_DATA and SEEK_HOLE.
func (f *File) seekData(offset int64, whence int) (int64, error) {
	c := f.v.begin(xlator.FopLseek)
	off, err := f.v.g.Top().Lseek(c, f.fd, offset, uint32(whence))
	c.Done()
	if !errors.Is(err, syscall.ENOSYS) {
		return off, err
	}
	// The whole file is data, as lseek(2) on a file system without holes.
	ia, err := f.stat()
	switch {
	case err != nil:
		return 0, err
	case offset < 0 || offset >= ia.Size:
		return 0, syscall.ENXIO
	case whence == SeekData:
		return offset, nil
	}
	return ia.Size, nil
}

func (f *File) stat() (xlator.Iatt, error) {
	c := f.v.begin(xlator.FopFstat)
	defer c.Done()
	return f.v.g.Top().Fstat(c, f.fd)
}

// Stat returns the open file's attributes.
func (f *File) Stat() (fs.FileInfo, error) {
	ia, err := f.stat()
	if err != nil {
		return nil, f.v.pathErr("stat", f.name, err)
	}
	return newInfo(baseName(mustSplit(f.name)), ia), nil
}

func mustSplit(name string) []string {
	p, _ := split(name)
	return p
}

// Sync makes the file's data and metadata durable.
func (f *File) Sync() error {
	c := f.v.begin(xlator.FopFsync)
	defer c.Done()
	if f.dir {
		return f.v.pathErr("sync", f.name, f.v.g.Top().Fsyncdir(c, f.fd, false))
	}
	return f.v.pathErr("sync", f.name, f.v.g.Top().Fsync(c, f.fd, false))
}

// Truncate changes the file's size.
func (f *File) Truncate(size int64) error {
	c := f.v.begin(xlator.FopFsetattr)
	defer c.Done()
	_, err := f.v.g.Top().Fsetattr(c, f.fd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: size})
	return f.v.pathErr("truncate", f.name, err)
}

// Close flushes and releases the file. A second Close returns fs.ErrClosed.
func (f *File) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return f.v.pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	f.mu.Unlock()
	defer f.fd.Unref()
	var err error
	if !f.dir {
		c := f.v.begin(xlator.FopFlush)
		defer c.Done()
		c.LkOwner = f.owner // the File's locks go with it
		err = f.v.g.Top().Flush(c, f.fd)
	}
	return f.v.pathErr("close", f.name, err)
}

// ReadDir reads the directory's entries, n at a time as fs.ReadDirFile
// specifies (n <= 0: all that are left).
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	if !f.dir {
		return nil, f.v.pathErr("readdir", f.name, syscall.ENOTDIR)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.v.begin(xlator.FopReaddir)
	defer c.Done()
	var out []fs.DirEntry
	for n <= 0 || len(out) < n {
		want := 256
		if n > 0 {
			want = n - len(out)
		}
		ents, err := f.v.g.Top().Readdir(c, f.fd, f.dirOff, want, true)
		if err != nil {
			return out, f.v.pathErr("readdir", f.name, err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			f.dirOff = e.Off
			if e.Name == "." || e.Name == ".." {
				continue
			}
			if e.Attr.Gfid.IsZero() {
				// The volume gave no attributes (stripe withholds those
				// of an entry it would refuse): Info looks it up and
				// reports its error.
				out = append(out, dirEntry{name: e.Name, typ: e.Type, v: f.v, path: path.Join(f.name, e.Name)})
				continue
			}
			out = append(out, dirEntry{info: newInfo(e.Name, e.Attr)})
		}
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// ReadDir lists a directory, sorted by the order the volume returns.
func (v *Volume) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := v.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// info implements fs.FileInfo over an Iatt.
type info struct {
	name string
	ia   xlator.Iatt
}

func newInfo(name string, ia xlator.Iatt) *info { return &info{name: name, ia: ia} }

func (i *info) Name() string       { return i.name }
func (i *info) Size() int64        { return i.ia.Size }
func (i *info) ModTime() time.Time { return i.ia.Mtime.Time() }
func (i *info) IsDir() bool        { return i.ia.IsDir() }
func (i *info) Sys() any           { return &i.ia }
func (i *info) Mode() fs.FileMode {
	m := fs.FileMode(i.ia.Mode & 0o777)
	switch i.ia.Type() {
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	}
	if i.ia.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if i.ia.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if i.ia.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// dirEntry is one entry of a listing: its attributes as the listing gave
// them, or, where it gave none, its name and type and the path Info looks
// up.
type dirEntry struct {
	info *info
	name string
	typ  uint32
	v    *Volume
	path string
}

func (d dirEntry) Name() string {
	if d.info == nil {
		return d.name
	}
	return d.info.name
}

func (d dirEntry) IsDir() bool { return d.Type().IsDir() }

func (d dirEntry) Type() fs.FileMode {
	if d.info == nil {
		return (&info{ia: xlator.Iatt{Mode: d.typ}}).Mode().Type()
	}
	return d.info.Mode().Type()
}

func (d dirEntry) Info() (fs.FileInfo, error) {
	if d.info == nil {
		return d.v.Stat(d.path)
	}
	return d.info, nil
}

func (d dirEntry) String() string { return fs.FormatDirEntry(d) }

func sortEntries(ents []fs.DirEntry) {
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}
