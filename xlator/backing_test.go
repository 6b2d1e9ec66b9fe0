package xlator_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestBackingFile: a graph gives a backing file only through translators
// that are all DataTransparent down to a BackingFiler; it names the one in
// the way otherwise.
func TestBackingFile(t *testing.T) {
	for _, c := range []struct {
		chain []string
		want  string
	}{
		{[]string{"pass", "mem"}, "l1 (type mem) has no local backing files"},
		{[]string{"fault", "mem"}, "l0 (type fault) handles file data"},
	} {
		g := xlatortest.Start(t, xlatortest.Chain(c.chain...), xlatortest.Registry(), nil)
		fd := g.NewFD(g.Inodes().Root(), 0, 0, false)
		_, err := g.BackingFile(fd)
		fd.Unref()
		if !errors.Is(err, xlator.ErrNotTransparent) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.chain, err, c.want)
		}
	}
}
