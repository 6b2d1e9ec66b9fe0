package cache

import (
	"math"

	"github.com/xstack/xstack/xlator"
)

// TypeName is the name volfiles use for this translator: type = "cache".
const TypeName = "cache"

// Limits and defaults of the options.
const (
	// MinPageSize and MaxPageSize bound page-size, which must also be a
	// power of two.
	MinPageSize = 4 << 10
	MaxPageSize = 1 << 20
	// DefaultPageSize is page-size's default.
	DefaultPageSize = 128 << 10
	// DefaultCacheSize is cache-size's default.
	DefaultCacheSize = 32 << 20
	// DefaultPriority is the priority of a file no priority pattern matches.
	DefaultPriority = 1
)

// Schema is the option schema of the cache translator.
var Schema = xlator.Schema{
	{Name: "cache-size", Kind: xlator.KindSize, Default: "32MiB", Min: MinPageSize, Max: 1 << 40,
		Doc: "memory the cache holds, across all files (LRU): the total size of the iobufs its pages pin, whole iobufs rather than the bytes of data in them (held-bytes in the statedump); at least the iobuf of one page"},
	{Name: "page-size", Kind: xlator.KindSize, Default: "128KiB", Min: MinPageSize, Max: MaxPageSize,
		Doc: "unit of caching: a power of two between 4KiB and 1MiB; a miss reads whole pages from the child"},
	{Name: "cache-timeout", Kind: xlator.KindDuration, Default: "1s", Min: 0, Max: int64(24 * 3600 * 1e9),
		Doc: "after this long a read revalidates the file: an fstat on the child whose mtime or size differs from what was recorded drops the file's pages (changes made behind the cache are seen at most this late); 0 revalidates on every read"},
	{Name: "min-file-size", Kind: xlator.KindSize, Default: "0",
		Doc: "files smaller than this are not cached; 0 = no lower limit"},
	{Name: "max-file-size", Kind: xlator.KindSize, Default: "0",
		Doc: "files larger than this are not cached; 0 = no upper limit"},
	{Name: "priority", Kind: xlator.KindIntMap, Min: 0, Max: math.MaxInt32,
		Doc: `priorities by file name: { "*.db" = 3, "*.log" = 0 }; the first glob that matches the base name wins, else priority 1. Pages of lower priority are evicted first; priority 0 means the file is not cached`},
	{Name: "read-ahead", Kind: xlator.KindInt, Default: "0", Min: 0, Max: 1024,
		Doc: "on a sequential read that misses, also read this many pages after the ones asked for, in the same child readv (inline, no background work); 0 disables it"},
}

// Type is the registry entry of the cache translator.
var Type = xlator.Type{
	Name:        TypeName,
	Doc:         "caches file data in pages of iobufs (GlusterFS's performance/io-cache)",
	Options:     Schema,
	MinChildren: 1,
	MaxChildren: 1,
	New:         func() xlator.Xlator { return &Cache{} },
}

// Register adds the cache type to r.
func Register(r *xlator.Registry) { r.MustRegister(Type) }
