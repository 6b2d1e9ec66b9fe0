package checksum

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/xlator"
)

// TypeName is the volfile type of the translator.
const TypeName = "checksum"

// Bounds of the block-size option.
const (
	MinBlockSize = 512
	MaxBlockSize = 1 << 20
)

// DefaultTableDir is the default name of the directory, at the root of
// the volume, that holds the tables.
const DefaultTableDir = ".xstack-checksum"

// Type is the registry entry of the translator.
var Type = xlator.Type{
	Name:        TypeName,
	Doc:         "stores a CRC32C per block in a table file on write and fails reads of blocks that no longer match (EIO)",
	MinChildren: 1,
	MaxChildren: 1,
	Options: xlator.Schema{
		{Name: "block-size", Kind: xlator.KindSize, Default: "64KiB", Min: MinBlockSize, Max: MaxBlockSize,
			Doc: "bytes covered by one checksum, for files that get their table from now on"},
		{Name: "table-dir", Kind: xlator.KindString, Default: DefaultTableDir,
			Doc: "the directory at the root of the child that holds the tables; hidden from clients"},
	},
	New: func() xlator.Xlator { return &Checksum{} },
}

// Register adds the type to r, for use in process.
func Register(r *xlator.Registry) { r.MustRegister(Type) }

// Checksum is the translator.
type Checksum struct {
	xlator.Base
	bs      int64
	zero    uint32 // zeroSum(bs)
	dirName string

	// dir is the table directory's inode, looked up on first use.
	dirMu sync.Mutex
	dir   *xlator.Inode

	// names serialise the fops that change a regular file's link count
	// (unlink, rename over it, link), by gfid, so that the count an
	// unlink reads is still true when it decides to drop the table.
	names [64]sync.Mutex

	// tables holds the per-file states and pages their cached entries, in
	// pools of this volume's so a statedump shows how many files the
	// translator tracks and how much of their tables it caches.
	tables *mempool.Pool[table]
	pages  *mempool.Pool[page]

	writes      atomic.Uint64
	verified    atomic.Uint64
	mismatches  atomic.Uint64
	unknown     atomic.Uint64
	tableErrors atomic.Uint64
}

var _ xlator.Xlator = (*Checksum)(nil)

// Init reads the options.
func (x *Checksum) Init(ic *xlator.InitContext) error {
	x.bs = ic.Options.Size("block-size")
	x.dirName = ic.Options.String("table-dir")
	if x.bs < MinBlockSize || x.bs > MaxBlockSize {
		return fmt.Errorf("block-size %d out of range [%d, %d]", x.bs, MinBlockSize, MaxBlockSize)
	}
	if n := x.dirName; n == "" || n == "." || n == ".." || len(n) > 255 || strings.ContainsAny(n, "/\x00") {
		return fmt.Errorf("table-dir %q is not a file name: give one name, without '/'", n)
	}
	x.zero = zeroSum(x.bs)
	x.tables = mempool.New[table](ic.Env.Pools, x.Name(), "table", 256)
	x.pages = mempool.New[page](ic.Env.Pools, x.Name(), "table-page", 64)
	return nil
}

// Fini lets go of the table directory.
func (x *Checksum) Fini() {
	x.dirMu.Lock()
	if x.dir != nil {
		x.dir.Unref()
		x.dir = nil
	}
	x.dirMu.Unlock()
}

// Dump reports the settings and counters.
func (x *Checksum) Dump() []xlator.KV {
	return []xlator.KV{
		{Key: "block-size", Value: x.bs},
		{Key: "table-dir", Value: x.dirName},
		{Key: "writes", Value: x.writes.Load()},
		{Key: "verified-blocks", Value: x.verified.Load()},
		{Key: "unknown-blocks", Value: x.unknown.Load()},
		{Key: "mismatches", Value: x.mismatches.Load()},
		{Key: "table-errors", Value: x.tableErrors.Load()},
	}
}

// Forget closes the file's table and drops its cached entries.
func (x *Checksum) Forget(in *xlator.Inode) {
	if t, ok := in.DelCtx(x).(*table); ok {
		x.release(t)
	}
}

// tableErr is the error a fop returns when a file's table cannot be kept
// in step: the child's errno when it tells the caller something true
// about the volume (full, read-only, disconnected), else EIO.
func (x *Checksum) tableErr(err error) error {
	x.tableErrors.Add(1)
	var e syscall.Errno
	if errors.As(err, &e) {
		switch e {
		case syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.ENOTCONN, syscall.EIO:
			return e
		}
	}
	return syscall.EIO
}

// isRoot reports whether in is the volume's root.
func isRoot(in *xlator.Inode) bool { return in != nil && in.GFID() == xlator.RootGFID }

// hidden reports whether loc names the table directory: the entry of the
// root with its name.
func (x *Checksum) hidden(loc *xlator.Loc) bool {
	return loc != nil && loc.Name == x.dirName && isRoot(loc.Parent)
}
