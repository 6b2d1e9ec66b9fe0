package iobuf

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/mempool"
)

// Class is one page-size class of the pool: every arena of the class is one
// mapping of NumPages pages of PageSize bytes. A class whose PageSize is a
// multiple of the OS page size hands out OS-page-aligned buffers.
type Class struct {
	PageSize int // bytes per iobuf; > 0
	NumPages int // iobufs per arena; > 0
}

// defaultClasses is GlusterFS's iobuf table (libglusterfs/src/iobuf.c):
// one arena of each class is 12976128 bytes, the arena_size its statedump shows.
var defaultClasses = []Class{
	{128, 1024},
	{512, 512},
	{2 << 10, 512},
	{8 << 10, 128},
	{32 << 10, 64},
	{128 << 10, 32},
	{256 << 10, 8},
	{1 << 20, 2},
}

// DefaultClasses returns a copy of the default class table, GlusterFS's:
// 128 B ×1024, 512 B ×512, 2 KiB ×512, 8 KiB ×128, 32 KiB ×64, 128 KiB ×32,
// 256 KiB ×8, 1 MiB ×2.
func DefaultClasses() []Class { return slices.Clone(defaultClasses) }

// DefaultPurgeAfter is how long an arena must stay fully unused before Purge
// unmaps it, when Config.PurgeAfter is zero.
const DefaultPurgeAfter = 30 * time.Second

// DefaultPageSize is the size Get(0) returns when Config.DefaultPageSize is
// zero: GlusterFS's default_page_size.
const DefaultPageSize = 128 << 10

// Config configures a Pool. The zero value gives GlusterFS's defaults.
type Config struct {
	// Classes is the page-size table; nil means DefaultClasses. Order does
	// not matter; page sizes must be distinct.
	Classes []Class

	// DefaultPageSize is the size of Get(0); 0 means DefaultPageSize. It
	// must not exceed the largest class.
	DefaultPageSize int

	// PurgeAfter is how long an arena must stay fully unused before Purge
	// unmaps it; 0 means DefaultPurgeAfter, negative disables purging.
	PurgeAfter time.Duration

	// Debug poisons pages when they are freed and checks the poison when
	// they are handed out again, and checks accessors for use after free.
	// It costs a memset and a compare of every page; the build tag
	// invariants turns it on for every pool.
	Debug bool

	// NoCPUCache disables the per-CPU front caches: every Get and last
	// Unref takes the class lock. It makes max_active exact (with caches it
	// also counts pages parked in them) and serves as a baseline.
	NoCPUCache bool

	// Shared carves the arenas out of one memfd that other processes can
	// map (SharedFile), so that an out-of-process translator reads the
	// pool's pages in place. The file is sealed: no other process can
	// write it or change its size (see SharedFile). SharedSize is the
	// file's size, reserved up front (address space, not memory); 0 means
	// DefaultSharedSize. When it is used up, arenas are anonymous memory
	// as without Shared. It also bounds the memory another process holding
	// the file can make it allocate.
	Shared     bool
	SharedSize int64

	// Pools is where the pool's iobrefs come from: a mem-pool named
	// "iobuf:iobref" is made there, so the statedump lists it. nil makes
	// it unlisted.
	Pools *mempool.Registry

	// Logger receives reports of misuse (double Unref, use after free) and
	// of failed mmap/munmap calls; nil discards them.
	Logger *zap.Logger
}

// withDefaults validates c and fills in its defaults. Classes come back
// sorted by page size.
func (c Config) withDefaults() (Config, error) {
	if c.Classes == nil {
		c.Classes = DefaultClasses()
	} else {
		c.Classes = slices.Clone(c.Classes)
	}
	if len(c.Classes) == 0 {
		return c, fmt.Errorf("%w: Classes is empty; leave it nil for the default table", ErrInvalidConfig)
	}
	if len(c.Classes) > 64 {
		return c, fmt.Errorf("%w: Classes has %d entries, at most 64 are allowed", ErrInvalidConfig, len(c.Classes))
	}
	slices.SortFunc(c.Classes, func(a, b Class) int { return a.PageSize - b.PageSize })
	for i, k := range c.Classes {
		if k.PageSize <= 0 || k.NumPages <= 0 {
			return c, fmt.Errorf("%w: class {PageSize: %d, NumPages: %d}: both must be > 0",
				ErrInvalidConfig, k.PageSize, k.NumPages)
		}
		if k.PageSize > 1<<30 || k.NumPages > 1<<20 {
			return c, fmt.Errorf("%w: class {PageSize: %d, NumPages: %d}: too large (PageSize ≤ 1 GiB, NumPages ≤ 1Mi)",
				ErrInvalidConfig, k.PageSize, k.NumPages)
		}
		if i > 0 && c.Classes[i-1].PageSize == k.PageSize {
			return c, fmt.Errorf("%w: page size %d appears twice in Classes", ErrInvalidConfig, k.PageSize)
		}
	}
	largest := c.Classes[len(c.Classes)-1].PageSize
	switch {
	case c.DefaultPageSize < 0:
		return c, fmt.Errorf("%w: DefaultPageSize %d is negative", ErrInvalidConfig, c.DefaultPageSize)
	case c.DefaultPageSize == 0:
		c.DefaultPageSize = min(DefaultPageSize, largest)
	case c.DefaultPageSize > largest:
		return c, fmt.Errorf("%w: DefaultPageSize %d exceeds the largest class (%d)",
			ErrInvalidConfig, c.DefaultPageSize, largest)
	}
	if c.SharedSize < 0 {
		return c, fmt.Errorf("%w: SharedSize %d is negative", ErrInvalidConfig, c.SharedSize)
	}
	if c.SharedSize == 0 {
		c.SharedSize = DefaultSharedSize
	}
	if c.PurgeAfter == 0 {
		c.PurgeAfter = DefaultPurgeAfter
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}
