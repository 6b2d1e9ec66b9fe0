package writebehind

import "github.com/xstack/xstack/xlator"

// TypeName is the name volfiles use for this translator:
// type = "write-behind".
const TypeName = "write-behind"

// Limits and defaults of the options.
const (
	// DefaultWindowSize is window-size's default (GlusterFS's too).
	DefaultWindowSize = 1 << 20
	// DefaultTotalWindowSize is total-window-size's default.
	DefaultTotalWindowSize = 64 << 20
	// MinWindowSize and MaxWindowSize bound window-size and
	// total-window-size.
	MinWindowSize = 4 << 10
	MaxWindowSize = 1 << 30
)

// Schema is the option schema of the write-behind translator.
var Schema = xlator.Schema{
	{Name: "window-size", Kind: xlator.KindSize, Default: "1MiB", Min: MinWindowSize, Max: MaxWindowSize,
		Doc: "bytes of acknowledged writes held per file before they are written to the child; a write that would go past it writes the file's held writes first, and a write of window-size or more goes straight through"},
	{Name: "total-window-size", Kind: xlator.KindSize, Default: "64MiB", Min: MinWindowSize, Max: 16 * MaxWindowSize,
		Doc: "bytes held across all files; a write that would go past it writes its own file's held writes and then goes straight through; at least window-size"},
	{Name: "flush-behind", Kind: xlator.KindBool, Default: "false",
		Doc: "close(2) (flush) returns without writing the held writes, which go down when the file is released; an error they meet is then only logged (counted as unreported-errors), so it is off by default"},
	{Name: "strict-o-direct", Kind: xlator.KindBool, Default: "true",
		Doc: "writes through an O_DIRECT fd are not held: held writes of the file go down first, then the write itself (O_SYNC and O_DSYNC writes are never held)"},
	{Name: "strict-write-ordering", Kind: xlator.KindBool, Default: "false",
		Doc: "write held writes in the order they came even when none overlap; off, a flush sorts non-overlapping writes by offset so that writes that came out of order still merge (overlapping writes always keep their order)"},
}

// Type is the registry entry of the write-behind translator.
var Type = xlator.Type{
	Name:        TypeName,
	Doc:         "acknowledges writes early and writes them to the child aggregated (GlusterFS's performance/write-behind)",
	Options:     Schema,
	MinChildren: 1,
	MaxChildren: 1,
	New:         func() xlator.Xlator { return &WriteBehind{} },
}

// Register adds the write-behind type to r.
func Register(r *xlator.Registry) { r.MustRegister(Type) }
