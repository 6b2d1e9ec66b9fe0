package locks

import "github.com/xstack/xstack/xlator"

// TypeName is the name volfiles use for this translator: type = "locks".
const TypeName = "locks"

// Type is the registry entry of the lock translator. It has no options:
// GlusterFS's mandatory locking and lock revocation are not kept.
var Type = xlator.Type{
	Name:        TypeName,
	Doc:         "keeps fcntl and flock locks for every front end of the stack (GlusterFS's features/locks); put one above each brick",
	MinChildren: 1,
	MaxChildren: 1,
	// Locks never look at file data: a FUSE mount may pass data
	// straight to the brick's files past it.
	DataTransparent: true,
	KeepsLocks:      true,
	New:             func() xlator.Xlator { return &Locks{} },
}

// Register adds the lock type to r.
func Register(r *xlator.Registry) { r.MustRegister(Type) }
