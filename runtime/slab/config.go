package slab

import (
	"fmt"
	"math/bits"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// CacheLine is the alignment to ask for (Config.Align) when objects must not
// share a CPU cache line, and the step used by colouring.
const CacheLine = 64

const (
	// defaultAlign keeps objects word aligned, like ARCH_SLAB_MINALIGN.
	defaultAlign = 8
	// defaultReapKeep is the share of free slabs a Reap keeps: the kernel
	// frees about 80% of them per pass.
	defaultReapKeep = 0.2
	// maxSlabOrder caps a slab at 2^12 pages (16 MiB with 4 KiB pages).
	maxSlabOrder = 12
	// minObjects is how many objects the automatic slab size tries to fit.
	minObjects = 8
	// maxObjects bounds objects per slab so indices fit a uint32 comfortably.
	maxObjects = 1 << 24
)

// pageSize is the OS page size; slabs are whole pages.
var pageSize = unix.Getpagesize()

// Config describes a cache. The zero value of every field except Size picks
// a sensible default; Stats reports what was chosen.
type Config struct {
	// Size is the object size in bytes; Alloc returns slices of exactly
	// this length and capacity. Required.
	Size int
	// Align is the alignment of every object's first byte: a power of two
	// up to the page size. 0 means 8. Use CacheLine to keep objects off each
	// other's cache lines. Objects are spaced by Size rounded up to Align.
	Align int
	// PagesPerSlab is the slab size in pages, a power of two. 0 picks the
	// smallest slab that holds at least 8 objects with at most 1/8 of it
	// wasted (the kernel's rule), up to 4096 pages.
	PagesPerSlab int
	// Colour offsets the first object of successive slabs by multiples of
	// max(Align, CacheLine), using the slab's leftover space, so that the
	// same object index in different slabs does not map to the same CPU
	// cache sets.
	Colour bool
	// FrontLimit is how many free objects each per-CPU front cache holds
	// before it drains a batch back to the slabs. 0 picks the kernel's
	// default for the object size (120 for small objects down to 1 for
	// objects over 128 KiB). A negative value disables front caches: every
	// Alloc and Free takes the cache lock (useful for exact accounting).
	FrontLimit int
	// BatchCount is how many objects a front cache moves at once when it
	// refills from or drains to the slabs, at most 128. 0 means
	// (FrontLimit+1)/2, capped at 128.
	BatchCount int
	// ReapKeep is the share of completely free slabs a Reap keeps mapped,
	// in [0, 1]. 0 means 0.2; a negative value keeps none.
	ReapKeep float64
	// Debug poisons freed objects with 0x6b and checks the poison when they
	// are handed out again (see ErrCorrupt). Building with the
	// "invariants" tag turns it on for every cache.
	Debug bool
	// Logger receives corruption and bad-free reports; nil logs nothing.
	Logger *zap.Logger
}

// geometry is a Config resolved into the numbers the cache runs on.
type geometry struct {
	size       int     // object size
	align      int     // object alignment
	asize      int     // object stride: size rounded up to align
	asizeShift int     // log2(asize) if asize is a power of two, else -1
	pages      int     // pages per slab
	slabSize   int     // bytes per slab
	slabShift  uint    // log2(slabSize)
	perSlab    int     // objects per slab
	stateRow   int     // words per row of a slab's state array, see stateRows
	colourStep int     // bytes between colour offsets
	colours    int     // number of distinct colour offsets (1 = no colouring)
	limit      int     // front cache limit (0 = objects go straight through)
	batch      int     // front cache batch count
	reapKeep   float64 // share of free slabs Reap keeps
	debug      bool
}

// objectAt returns the index of the object that starts off bytes into a
// slab's object area, or -1 if none does.
func (g *geometry) objectAt(off int) int {
	var idx int
	if g.asizeShift >= 0 {
		idx = off >> g.asizeShift
	} else {
		idx = int(uint32(off) / uint32(g.asize))
	}
	if off < 0 || idx*g.asize != off || idx >= g.perSlab {
		return -1
	}
	return idx
}

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

func roundUp(n, align int) int { return (n + align - 1) &^ (align - 1) }

// resolve validates cfg and computes the geometry of cache name.
func resolve(name string, cfg Config) (geometry, error) {
	bad := func(format string, args ...any) (geometry, error) {
		return geometry{}, fmt.Errorf("cache %q: %s: %w", name, fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if name == "" {
		return bad("empty name; give the cache a name such as \"<volume>:<what>\"")
	}
	var g geometry
	if cfg.Size <= 0 {
		return bad("Size %d must be positive", cfg.Size)
	}
	g.size = cfg.Size
	g.align = cfg.Align
	if g.align == 0 {
		g.align = defaultAlign
	}
	if !isPow2(g.align) || g.align > pageSize {
		return bad("Align %d must be a power of two no larger than the page size %d", cfg.Align, pageSize)
	}
	g.asize = roundUp(g.size, g.align)
	g.asizeShift = -1
	if isPow2(g.asize) {
		g.asizeShift = bits.TrailingZeros(uint(g.asize))
	}

	switch {
	case cfg.PagesPerSlab < 0 || (cfg.PagesPerSlab > 0 && !isPow2(cfg.PagesPerSlab)):
		return bad("PagesPerSlab %d must be a power of two (or 0 to choose automatically)", cfg.PagesPerSlab)
	case cfg.PagesPerSlab > 1<<maxSlabOrder:
		return bad("PagesPerSlab %d exceeds the maximum %d", cfg.PagesPerSlab, 1<<maxSlabOrder)
	case cfg.PagesPerSlab > 0:
		g.pages = cfg.PagesPerSlab
	default:
		g.pages = pickPages(g.asize)
	}
	g.slabSize = g.pages * pageSize
	g.slabShift = uint(bits.TrailingZeros(uint(g.slabSize)))
	g.perSlab = g.slabSize / g.asize
	if g.perSlab == 0 {
		return bad("Size %d (aligned %d) does not fit in a slab of %d pages; raise PagesPerSlab or leave it 0", g.size, g.asize, g.pages)
	}
	if g.perSlab > maxObjects {
		return bad("%d objects per slab is more than %d; lower PagesPerSlab", g.perSlab, maxObjects)
	}

	// Whole cache lines per row, so rows never share one.
	g.stateRow = roundUp((g.perSlab+stateRows-1)/stateRows, CacheLine/8)

	g.colours = 1
	if cfg.Colour {
		g.colourStep = max(g.align, CacheLine)
		g.colours = (g.slabSize-g.perSlab*g.asize)/g.colourStep + 1
	}

	g.limit, g.batch = frontDefaults(g.size)
	switch {
	case cfg.FrontLimit < 0:
		g.limit, g.batch = 0, 1
	case cfg.FrontLimit > 0:
		g.limit = cfg.FrontLimit
		g.batch = min((g.limit+1)/2, maxBatch)
	}
	if cfg.BatchCount < 0 {
		return bad("BatchCount %d must not be negative", cfg.BatchCount)
	}
	if cfg.BatchCount > 0 && cfg.FrontLimit >= 0 {
		if cfg.BatchCount > g.limit || cfg.BatchCount > maxBatch {
			return bad("BatchCount %d exceeds FrontLimit %d or the maximum %d", cfg.BatchCount, g.limit, maxBatch)
		}
		g.batch = cfg.BatchCount
	}

	switch {
	case cfg.ReapKeep > 1:
		return bad("ReapKeep %g must be at most 1", cfg.ReapKeep)
	case cfg.ReapKeep < 0:
		g.reapKeep = 0
	case cfg.ReapKeep == 0:
		g.reapKeep = defaultReapKeep
	default:
		g.reapKeep = cfg.ReapKeep
	}
	g.debug = cfg.Debug || invariants
	return g, nil
}

// pickPages returns the smallest power-of-two page count whose slab holds at
// least minObjects objects of stride asize with at most 1/8 left over, or the
// largest slab if none does.
func pickPages(asize int) int {
	for order := 0; order <= maxSlabOrder; order++ {
		size := pageSize << order
		n := size / asize
		if n >= minObjects && (size-n*asize)*8 <= size {
			return 1 << order
		}
	}
	return 1 << maxSlabOrder
}

// frontDefaults returns the kernel's array_cache limit and batchcount for an
// object size (mm/slab.c, enable_cpucache): big objects are cached less, to
// bound the memory parked per CPU.
func frontDefaults(size int) (limit, batch int) {
	switch {
	case size > 128<<10:
		limit = 1
	case size > pageSize:
		limit = 8
	case size > 1024:
		limit = 24
	case size > 256:
		limit = 54
	default:
		limit = 120
	}
	return limit, (limit + 1) / 2
}
