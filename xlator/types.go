package xlator

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"syscall"
	"time"
)

// GFID is a file's stable identity across the stack, as in GlusterFS: 16
// bytes kept by the bottom of the stack (posix stores it in an xattr), the
// same for every hard link, unchanged by rename.
type GFID [16]byte

// RootGFID is the identity of the volume's root directory (…0001, as in
// GlusterFS).
var RootGFID = GFID{15: 1}

// NewGFID returns a random version-4 UUID.
func NewGFID() GFID {
	var g GFID
	if _, err := rand.Read(g[:]); err != nil {
		panic(fmt.Sprintf("xlator: no randomness for a gfid: %v", err))
	}
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// IsZero reports whether g is unset.
func (g GFID) IsZero() bool { return g == GFID{} }

// String renders g as a UUID.
func (g GFID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:], g[10:])
	return string(b[:])
}

// ParseGFID parses the UUID form String produces.
func ParseGFID(s string) (GFID, error) {
	var g GFID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("gfid %q is not a UUID", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(g[:], []byte(h)); err != nil {
		return g, fmt.Errorf("gfid %q is not a UUID", s)
	}
	return g, nil
}

// Timespec is a time stamp with nanoseconds, as stat reports it.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Time converts t to a time.Time.
func (t Timespec) Time() time.Time { return time.Unix(t.Sec, t.Nsec) }

// TimespecOf converts a time.Time.
func TimespecOf(t time.Time) Timespec { return Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())} }

// Iatt is a file's attributes as they travel up the stack (GlusterFS's
// struct iatt). Mode holds the file type bits and the permission bits as
// st_mode does. Size is the logical size a client sees: a translator that
// changes the layout of data (stripe) rewrites it.
//
// Mask and Btime come from statx(2) at the bottom of the stack, as
// GlusterFS's ia_btime does: Mask is the brick's stx_mask (StatxBasic,
// StatxBtime), and Btime is the file's birth time when Mask has
// StatxBtime. Mask 0 means the bottom did not say (a translator or plugin
// that predates the field): the other fields are still filled, and there
// is no birth time. Mask sits in what was padding after Blksize, so the
// two fields cost 16 bytes on a 128-byte value (TestIattSize).
type Iatt struct {
	Gfid    GFID
	Ino     uint64
	Dev     uint64
	Mode    uint32
	Nlink   uint32
	Uid     uint32
	Gid     uint32
	Rdev    uint64
	Size    int64
	Blksize uint32
	Mask    uint32
	Blocks  int64
	Atime   Timespec
	Mtime   Timespec
	Ctime   Timespec
	Btime   Timespec
}

// Iatt.Mask bits, as statx(2) defines them.
const (
	// StatxBasic is every field of stat(2): type, mode, nlink, uid, gid,
	// atime, mtime, ctime, ino, size and blocks.
	StatxBasic uint32 = 0x7ff
	// StatxBtime says Btime is the file's birth time.
	StatxBtime uint32 = 0x800
)

// HasBtime reports whether Btime holds the file's birth time.
func (a *Iatt) HasBtime() bool { return a.Mask&StatxBtime != 0 }

// IsDir reports whether the attributes are a directory's.
func (a *Iatt) IsDir() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// IsRegular reports whether the attributes are a regular file's.
func (a *Iatt) IsRegular() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFREG }

// IsSymlink reports whether the attributes are a symlink's.
func (a *Iatt) IsSymlink() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFLNK }

// Type returns the file type bits of Mode.
func (a *Iatt) Type() uint32 { return a.Mode & syscall.S_IFMT }

// Setattr's valid bits say which fields of SetattrIn to apply.
const (
	SetMode uint32 = 1 << iota
	SetUid
	SetGid
	SetSize
	SetAtime
	SetMtime
	SetAtimeNow
	SetMtimeNow
)

// SetattrIn is the input of Setattr and Fsetattr.
type SetattrIn struct {
	Valid uint32
	Mode  uint32 // permission bits only
	Uid   uint32
	Gid   uint32
	Size  int64
	Atime Timespec
	Mtime Timespec
}

// Dirent is one directory entry from Readdir. Off is the cookie that
// continues the listing after this entry. Attr is filled by a readdirplus
// (Readdir with plus=true); Attr.Gfid is then set.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint32 // S_IFMT bits
	Off  int64
	Attr Iatt
}

// Statvfs is a file system's statistics (struct statvfs).
type Statvfs struct {
	Bsize   uint64
	Frsize  uint64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Favail  uint64
	Namemax uint64
	// Fsid identifies the file system the figures are of (posix gives
	// the brick's device number), 0 when unknown: a translator that
	// combines its children's figures counts a file system once.
	Fsid uint64
}

// Fallocate mode bits, as Linux's fallocate(2) defines them.
const (
	FallocKeepSize  uint32 = 0x01
	FallocPunchHole uint32 = 0x02
	FallocZeroRange uint32 = 0x10
)

// Lseek's whence values, as lseek(2) defines them: the only two that
// reach a file system (SEEK_SET, SEEK_CUR and SEEK_END are the caller's
// arithmetic).
const (
	SeekData uint32 = 3
	SeekHole uint32 = 4
)

// Rename flags, as renameat2(2) defines them.
const (
	RenameNoReplace uint32 = 1
	RenameExchange  uint32 = 2
)

// Loc names the target of an entry fop: the parent directory's inode and
// the entry's name, and the entry's inode when the caller already knows it.
// Name is a single path component: the front ends refuse "", ".", "..",
// and names with '/' or NUL before a fop is wound; posix checks again.
// The root has Parent == nil and Name == "".
type Loc struct {
	Parent *Inode
	Name   string
	Inode  *Inode
	// GfidReq is the GFID the caller asks the bottom of the stack to give
	// an entry it creates (create, mkdir, mknod, symlink); zero lets the
	// bottom choose. A translator that fans a create out to several
	// children (stripe) creates on the first, then asks the others for the
	// same GFID, so the file has one identity across all of them.
	GfidReq GFID
}

// Path renders the location's path from the volume root, from the inode
// table's dentries. It allocates: for messages and pattern matching, not
// for the data path.
func (l *Loc) Path() string {
	if l.Parent == nil {
		if l.Inode != nil {
			return l.Inode.Path()
		}
		return "/"
	}
	p := l.Parent.Path()
	if p == "/" {
		return "/" + l.Name
	}
	return p + "/" + l.Name
}
