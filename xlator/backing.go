package xlator

import (
	"errors"
	"fmt"
)

// Backing files. A front end that can hand a file's data to the kernel
// directly (FUSE passthrough: the kernel reads and writes the backing file
// itself, no READ or WRITE reaches the graph) asks the graph for the
// file's backing file. The graph gives one only when no translator would
// miss those bytes: every translator from the top down is
// DataTransparent, with one child, and the bottom is a BackingFiler that
// agrees for this open file.

// BackingFiler is implemented by a bottom translator whose open files are
// files of the local kernel (posix).
type BackingFiler interface {
	// BackingFile returns the descriptor of fd's open file in this
	// process, owned by the translator (the caller must not close it and
	// uses it only while fd is open), or an error wrapping
	// ErrNotTransparent when the translator must see the file's data
	// itself (posix with a reserve to enforce on writes).
	BackingFile(fd *FD) (int, error)
}

// ErrNotTransparent is returned (wrapped, with the reason) by
// Graph.BackingFile when a translator must see the file's data.
var ErrNotTransparent = errors.New("the graph must see this file's data")

// BackingFile returns the descriptor of the local file behind fd, an open
// file of the graph's top, if every translator lets its data pass (see
// the top of this file); the descriptor is the bottom's and stays valid
// while fd is open.
func (g *Graph) BackingFile(fd *FD) (int, error) {
	n := g.nodes[0]
	for {
		switch len(n.spec.Subvolumes) {
		case 0:
			bf, ok := n.x.(BackingFiler)
			if !ok {
				return -1, fmt.Errorf("%w: %s (type %s) has no local backing files", ErrNotTransparent, n.spec.Name, n.spec.Type)
			}
			return bf.BackingFile(fd)
		case 1:
			if !n.typ.DataTransparent {
				return -1, fmt.Errorf("%w: %s (type %s) handles file data", ErrNotTransparent, n.spec.Name, n.spec.Type)
			}
			n = g.byName[n.spec.Subvolumes[0]]
		default:
			return -1, fmt.Errorf("%w: %s (type %s) has %d children", ErrNotTransparent, n.spec.Name, n.spec.Type, len(n.spec.Subvolumes))
		}
	}
}
