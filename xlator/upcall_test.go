package xlator_test

import (
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestInvalidate: every registered front end hears of every invalidated
// inode until it removes itself.
func TestInvalidate(t *testing.T) {
	g := xlatortest.Start(t, xlatortest.Chain("mem"), xlatortest.Registry(), nil)
	root := g.Inodes().Root()
	var a, b int
	removeA := g.OnInvalidate(func(in *xlator.Inode) {
		if in == root {
			a++
		}
	})
	removeB := g.OnInvalidate(func(*xlator.Inode) { b++ })
	defer removeB()
	g.Invalidate(root)
	g.Invalidate(nil) // nothing
	removeA()
	g.Invalidate(root)
	if a != 1 || b != 2 {
		t.Errorf("front ends heard %d and %d invalidations, want 1 and 2", a, b)
	}
}
