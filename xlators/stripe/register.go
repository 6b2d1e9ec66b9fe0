package stripe

import "github.com/xstack/xstack/xlator"

// TypeName is the name volfiles use for this translator: type = "stripe".
const TypeName = "stripe"

// Limits of the block size options.
const (
	// MinBlockSize is the smallest block size the options accept.
	MinBlockSize = 16 << 10
	// MaxBlockSize is the largest: a block must fit a single read.
	MaxBlockSize = 1 << 30
	// DefaultBlockSize is block-size's default.
	DefaultBlockSize = 128 << 10
)

// Schema is the option schema of the stripe translator.
var Schema = xlator.Schema{
	{Name: "block-size", Kind: xlator.KindSize, Default: "128KiB", Min: MinBlockSize, Max: MaxBlockSize,
		Doc: "bytes of a file stored on one child before the next child takes over; a multiple of 512, at least 16KiB. Fixed per file at create (kept in the file's trusted.xstack.stripe xattr), so changing it affects new files only"},
	{Name: "block-size-pattern", Kind: xlator.KindSizeMap, Min: MinBlockSize, Max: MaxBlockSize,
		Doc: `block sizes by file name: { "*.iso" = "1MiB" }; the first glob that matches a new file's base name wins, else block-size applies; each value obeys block-size's rules`},
	{Name: "coalesce", Kind: xlator.KindBool, Default: "false",
		Doc: "pack each child's blocks contiguously in its file (block k at (k / children) * block-size) instead of at the block's own offset in a sparse file; fixed per file at create"},
}

// Type is the registry entry of the stripe translator.
var Type = xlator.Type{
	Name:        TypeName,
	Doc:         "stripes file data round-robin over its children (GlusterFS's cluster/stripe)",
	Options:     Schema,
	MinChildren: 2,
	MaxChildren: -1,
	New:         func() xlator.Xlator { return &Stripe{} },
}

// Register adds the stripe type to r.
func Register(r *xlator.Registry) { r.MustRegister(Type) }
