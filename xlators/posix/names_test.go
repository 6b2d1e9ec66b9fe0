package posix

import (
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/xlator"
)

func namesStats(t *testing.T, b *brick) slab.Stats {
	t.Helper()
	for _, c := range b.env.Slabs.Caches() {
		if c.Name() == b.px.Name()+":names" {
			return c.Stats()
		}
	}
	t.Fatalf("no names cache in %v", b.env.Slabs.Stats())
	return slab.Stats{}
}

// TestNamesCache: the xattr calls of the fop path (gfid reads and
// writes, Getxattr, Setxattr) take their strings from the brick's names
// cache and give them back; a name longer than the kernel allows is
// refused as the kernel refuses it, and the cache goes with the brick.
func TestNamesCache(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	before := namesStats(t, b)
	f, _ := b.mustCreate(b.root(), "f") // writes and reads a gfid
	c := b.call(xlator.FopSetxattr)
	defer c.Done()
	loc := &xlator.Loc{Inode: f}
	errIs(t, "set user.a", b.top().Setxattr(c, loc, "user.a", []byte("1"), 0), 0)
	v, err := b.top().Getxattr(c, loc, "user.a")
	if err != nil || string(v) != "1" {
		t.Fatalf("get user.a: %q %v", v, err)
	}
	var got [3]byte
	if n, err := unix.Getxattr(b.dir+"/f", "user.a", got[:]); err != nil || string(got[:n]) != "1" {
		t.Fatalf("the brick file has user.a = %q, %v", got[:n], err)
	}
	long := "user." + strings.Repeat("n", 300)
	errIs(t, "set an overlong name", b.top().Setxattr(c, loc, long, []byte("1"), 0), syscall.ERANGE)
	st := namesStats(t, b).Sub(before)
	if st.Allocs < 4 || st.ActiveObjects != 0 {
		t.Errorf("names cache: %d allocs, %d active; want ≥ 4 and 0", st.Allocs, st.ActiveObjects)
	}
	b.g.Stop()
	for _, c := range b.env.Slabs.Caches() {
		if strings.HasSuffix(c.Name(), ":names") {
			t.Errorf("cache %s outlives its brick", c.Name())
		}
	}
}
