package checksum

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/xlator"
)

// TypeName is the volfile type of the translator.
const TypeName = "checksum"

// MaxBlockSize bounds the block-size option.
const MaxBlockSize = 1 << 20

// Type is the registry entry of the translator.
var Type = xlator.Type{
	Name:        TypeName,
	Doc:         "stores a CRC32C per block in an xattr on write and fails reads of blocks that no longer match (EIO)",
	MinChildren: 1,
	MaxChildren: 1,
	Options: xlator.Schema{
		{Name: "block-size", Kind: xlator.KindSize, Default: "64KiB", Min: 512, Max: MaxBlockSize,
			Doc: "bytes covered by one checksum"},
		{Name: "xattr", Kind: xlator.KindString, Default: "trusted.xstack.checksum",
			Doc: "the extended attribute on the child that holds a file's checksums"},
	},
	New: func() xlator.Xlator { return &Checksum{} },
}

// Register adds the type to r, for use in process.
func Register(r *xlator.Registry) { r.MustRegister(Type) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zeroes pads a short block to the block size; read-only.
var zeroes = make([]byte, MaxBlockSize)

const magic = "XCK1"

// Checksum is the translator.
type Checksum struct {
	xlator.Base
	bs    int64
	xattr string
	zero  uint32 // the sum of a block of zeroes
	// tables holds the per-file tables, in a pool of this volume's so a
	// statedump shows how many files the translator tracks.
	tables *mempool.Pool[table]

	writes     atomic.Uint64
	verified   atomic.Uint64
	mismatches atomic.Uint64
	unknown    atomic.Uint64
}

var _ xlator.Xlator = (*Checksum)(nil)

// table is the checksums of one file, cached on its inode. Writers hold mu
// exclusively, readers shared, so a reader never checks a block while it
// is being rewritten.
type table struct {
	mu     sync.RWMutex
	loaded bool
	sums   []uint32 // 0: unknown
	rfd    *xlator.FD
}

// Init reads the options.
func (x *Checksum) Init(ic *xlator.InitContext) error {
	x.bs = ic.Options.Size("block-size")
	x.xattr = ic.Options.String("xattr")
	if x.bs <= 0 || x.bs > MaxBlockSize {
		return errors.New("block-size out of range")
	}
	x.zero = crc32.Checksum(zeroes[:x.bs], castagnoli)
	x.tables = mempool.New[table](ic.Env.Pools, x.Name(), "table", 256)
	return nil
}

// Dump reports the settings and counters.
func (x *Checksum) Dump() []xlator.KV {
	return []xlator.KV{
		{Key: "block-size", Value: x.bs},
		{Key: "xattr", Value: x.xattr},
		{Key: "writes", Value: x.writes.Load()},
		{Key: "verified-blocks", Value: x.verified.Load()},
		{Key: "unknown-blocks", Value: x.unknown.Load()},
		{Key: "mismatches", Value: x.mismatches.Load()},
	}
}

// Forget drops the cached table.
func (x *Checksum) Forget(in *xlator.Inode) {
	if t, ok := in.DelCtx(x).(*table); ok {
		if t.rfd != nil {
			t.rfd.Unref()
		}
		t.sums, t.rfd, t.loaded = nil, nil, false
		_ = x.tables.Put(t)
	}
}

func (x *Checksum) tableOf(c *xlator.Call, in *xlator.Inode) *table {
	t := in.CtxOrSet(x, func() any { return x.tables.Get0() }).(*table)
	t.mu.RLock()
	loaded := t.loaded
	t.mu.RUnlock()
	if !loaded {
		t.mu.Lock()
		if !t.loaded {
			t.sums = x.load(c, in)
			t.loaded = true
		}
		t.mu.Unlock()
	}
	return t
}

func (x *Checksum) load(c *xlator.Call, in *xlator.Inode) []uint32 {
	v, err := x.FirstChild().Getxattr(c, &xlator.Loc{Inode: in}, x.xattr)
	if err != nil {
		if !errors.Is(err, syscall.ENODATA) {
			x.Logger().Debug("no checksums", zap.String("path", in.Path()), zap.Error(err))
		}
		return nil
	}
	if len(v) < 8 || string(v[:4]) != magic {
		x.Logger().Warn("ignoring a malformed checksum table", zap.String("path", in.Path()))
		return nil
	}
	if bs := int64(binary.LittleEndian.Uint32(v[4:8])); bs != x.bs {
		x.Logger().Warn("ignoring checksums made with another block size",
			zap.String("path", in.Path()), zap.Int64("theirs", bs), zap.Int64("ours", x.bs))
		return nil
	}
	sums := make([]uint32, (len(v)-8)/4)
	for i := range sums {
		sums[i] = binary.LittleEndian.Uint32(v[8+4*i:])
	}
	return sums
}

// store writes t's sums to the child; t.mu is held.
func (x *Checksum) store(c *xlator.Call, in *xlator.Inode, t *table) error {
	v := make([]byte, 8+4*len(t.sums))
	copy(v, magic)
	binary.LittleEndian.PutUint32(v[4:], uint32(x.bs))
	for i, s := range t.sums {
		binary.LittleEndian.PutUint32(v[8+4*i:], s)
	}
	return x.FirstChild().Setxattr(c, &xlator.Loc{Inode: in}, x.xattr, v, 0)
}

// grow makes room for block b; new blocks before the written ones are
// holes, which read as zeroes. t.mu is held.
func (x *Checksum) grow(t *table, b int64) {
	for int64(len(t.sums)) <= b {
		t.sums = append(t.sums, x.zero)
	}
}

// sum returns the CRC32C of data (at most one block) padded to the block
// size.
func (x *Checksum) sum(crc uint32, n int64) uint32 {
	return crc32.Update(crc, castagnoli, zeroes[:x.bs-n])
}

// sumRange sums bytes [from, from+n) of ref, padded to a block.
func (x *Checksum) sumRange(ref *iobuf.Iobref, from, n int64) uint32 {
	var crc uint32
	pos, want := int64(0), n
	for i := 0; i < ref.Len() && want > 0; i++ {
		seg := ref.Seg(i)
		l := int64(len(seg))
		if pos+l <= from {
			pos += l
			continue
		}
		s := max(from-pos, 0)
		e := min(l, s+want)
		crc = crc32.Update(crc, castagnoli, seg[s:e])
		want -= e - s
		pos += l
	}
	return x.sum(crc, n-want)
}

// Writev writes through and then records the sums of the blocks written.
func (x *Checksum) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	child := x.FirstChild()
	t := x.tableOf(c, fd.Inode)
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd.Flags&syscall.O_APPEND != 0 {
		ia, err := child.Fstat(c, fd)
		if err != nil {
			return 0, err
		}
		off = ia.Size
	}
	n, err := child.Writev(c, fd, data, off)
	if n <= 0 {
		return n, err
	}
	x.writes.Add(1)
	first, last := off/x.bs, (off+int64(n)-1)/x.bs
	x.grow(t, last)
	for b := first; b <= last; b++ {
		start := b * x.bs
		if start >= off && start+x.bs <= off+int64(n) {
			t.sums[b] = x.sumRange(data, start-off, x.bs)
			continue
		}
		t.sums[b] = x.reread(c, fd, t, b)
	}
	if serr := x.store(c, fd.Inode, t); serr != nil {
		x.Logger().Error("cannot store checksums", zap.String("path", fd.Inode.Path()), zap.Error(serr))
		if err == nil {
			err = syscall.EIO
		}
	}
	return n, err
}

// reread sums block b as the child now has it, through fd if it can read,
// else through a read-only fd kept for the file; 0 (unknown) if neither
// works. t.mu is held.
func (x *Checksum) reread(c *xlator.Call, fd *xlator.FD, t *table, b int64) uint32 {
	rfd := fd
	if fd.Flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		if t.rfd == nil {
			nfd := x.Graph().NewFD(fd.Inode, syscall.O_RDONLY, c.Pid, false)
			if err := x.FirstChild().Open(c, &xlator.Loc{Inode: fd.Inode}, syscall.O_RDONLY, nfd); err != nil {
				nfd.Unref()
				x.unknown.Add(1)
				return 0
			}
			t.rfd = nfd
		}
		rfd = t.rfd
	}
	ref, err := x.FirstChild().Readv(c, rfd, int(x.bs), b*x.bs)
	if err != nil {
		x.unknown.Add(1)
		return 0
	}
	s := x.sumRange(ref, 0, int64(ref.Size()))
	ref.Unref()
	return s
}

// Readv reads whole blocks from the child, checks them, and returns the
// bytes asked for.
func (x *Checksum) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	t := x.tableOf(c, fd.Inode)
	t.mu.RLock()
	defer t.mu.RUnlock()
	start := off / x.bs * x.bs
	end := (off + int64(size) + x.bs - 1) / x.bs * x.bs
	ref, err := x.FirstChild().Readv(c, fd, int(end-start), start)
	if err != nil {
		return nil, err
	}
	got := int64(ref.Size())
	for b := start / x.bs; b*x.bs < start+got; b++ {
		if b >= int64(len(t.sums)) || t.sums[b] == 0 {
			continue
		}
		from := b*x.bs - start
		n := min(x.bs, got-from)
		if s := x.sumRange(ref, from, n); s != t.sums[b] {
			ref.Unref()
			x.mismatches.Add(1)
			x.Logger().Error("checksum mismatch: the data changed behind the stack",
				zap.String("path", fd.Inode.Path()), zap.String("gfid", fd.Inode.GFID().String()),
				zap.Int64("block", b), zap.Int64("offset", b*x.bs),
				zap.Uint32("stored", t.sums[b]), zap.Uint32("computed", s))
			return nil, syscall.EIO
		}
		x.verified.Add(1)
	}
	return slice(x.Iobufs(), ref, off-start, int64(size)), nil
}

// slice returns bytes [from, from+n) of ref (fewer at its end) as an
// iobref over the same iobufs, and drops the caller's reference on ref.
func slice(pool *iobuf.Pool, ref *iobuf.Iobref, from, n int64) *iobuf.Iobref {
	size := int64(ref.Size())
	if from == 0 {
		if n < size {
			ref.Truncate(int(n))
		}
		return ref
	}
	out := pool.NewIobref()
	pos := int64(0)
	for i := 0; i < ref.Len() && n > 0; i++ {
		b, o, l := ref.Entry(i)
		seg := int64(l)
		if pos+seg <= from {
			pos += seg
			continue
		}
		s := max(from-pos, 0)
		e := min(seg, s+n)
		out.AddRange(b, o+int(s), int(e-s))
		n -= e - s
		pos += seg
	}
	ref.Unref()
	return out
}

// Open resets the sums of a file opened with O_TRUNC.
func (x *Checksum) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	if err := x.FirstChild().Open(c, loc, flags, fd); err != nil {
		return err
	}
	if flags&syscall.O_TRUNC != 0 {
		x.truncate(c, fd.Inode, 0)
	}
	return nil
}

// Create starts a file with no sums.
func (x *Checksum) Create(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	ia, err := x.FirstChild().Create(c, loc, flags, mode, umask, fd)
	if err == nil {
		if t, ok := fd.Inode.Ctx(x).(*table); ok {
			t.mu.Lock()
			t.sums, t.loaded = nil, true
			t.mu.Unlock()
		}
	}
	return ia, err
}

// Setattr keeps the sums in step with a truncate.
func (x *Checksum) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	ia, err := x.FirstChild().Setattr(c, loc, in)
	if err == nil && in.Valid&xlator.SetSize != 0 && loc.Inode != nil {
		x.truncate(c, loc.Inode, in.Size)
	}
	return ia, err
}

// Fsetattr keeps the sums in step with an ftruncate.
func (x *Checksum) Fsetattr(c *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	ia, err := x.FirstChild().Fsetattr(c, fd, in)
	if err == nil && in.Valid&xlator.SetSize != 0 {
		x.truncate(c, fd.Inode, in.Size)
	}
	return ia, err
}

func (x *Checksum) truncate(c *xlator.Call, in *xlator.Inode, size int64) {
	t := x.tableOf(c, in)
	t.mu.Lock()
	defer t.mu.Unlock()
	nb := (size + x.bs - 1) / x.bs
	if int64(len(t.sums)) > nb {
		t.sums = t.sums[:nb]
	}
	if size%x.bs != 0 && nb-1 < int64(len(t.sums)) {
		t.sums[nb-1] = 0
	}
	_ = x.store(c, in, t)
}

// zeroed records that [off, off+length) now reads as zeroes: whole blocks
// get the sum of zeroes, partly covered ones become unknown.
func (x *Checksum) zeroed(c *xlator.Call, in *xlator.Inode, off, length int64) {
	if length <= 0 {
		return
	}
	t := x.tableOf(c, in)
	t.mu.Lock()
	defer t.mu.Unlock()
	first, last := off/x.bs, (off+length-1)/x.bs
	for b := first; b <= last && b < int64(len(t.sums)); b++ {
		if b*x.bs >= off && (b+1)*x.bs <= off+length {
			t.sums[b] = x.zero
		} else {
			t.sums[b] = 0
		}
	}
	_ = x.store(c, in, t)
}

// Discard keeps the sums in step.
func (x *Checksum) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	err := x.FirstChild().Discard(c, fd, off, length)
	if err == nil {
		x.zeroed(c, fd.Inode, off, length)
	}
	return err
}

// Zerofill keeps the sums in step.
func (x *Checksum) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	err := x.FirstChild().Zerofill(c, fd, off, length)
	if err == nil {
		x.zeroed(c, fd.Inode, off, length)
	}
	return err
}

// Fallocate keeps the sums in step with punched or zeroed ranges.
func (x *Checksum) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	err := x.FirstChild().Fallocate(c, fd, mode, off, length)
	if err == nil && mode&(xlator.FallocPunchHole|xlator.FallocZeroRange) != 0 {
		x.zeroed(c, fd.Inode, off, length)
	}
	return err
}

// Setxattr refuses the checksum xattr: only the translator writes it.
func (x *Checksum) Setxattr(c *xlator.Call, loc *xlator.Loc, name string, value []byte, flags uint32) error {
	if name == x.xattr {
		return syscall.EPERM
	}
	return x.FirstChild().Setxattr(c, loc, name, value, flags)
}

// Removexattr refuses the checksum xattr.
func (x *Checksum) Removexattr(c *xlator.Call, loc *xlator.Loc, name string) error {
	if name == x.xattr {
		return syscall.EPERM
	}
	return x.FirstChild().Removexattr(c, loc, name)
}
