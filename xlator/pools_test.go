package xlator_test

import (
	"runtime"
	"syscall"
	"testing"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

func poolStats(t *testing.T, env *xlator.Env, name string) mempool.Stats {
	t.Helper()
	for _, s := range env.Pools.Pools() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no pool %s in %v", name, env.Pools.Pools())
	return mempool.Stats{}
}

// TestInodeAndFDPools: a graph's inodes and fds come from the named pools
// "<top>:inode_t" and "<top>:fd_t", which the statedump lists; a
// forgotten inode and a released fd go back, their contexts cleared, and
// the next one reuses them.
func TestInodeAndFDPools(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: calls, inodes and fds allocate with new")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: its pool cache is LIFO
	env := xlatortest.NewEnv(t)
	g, err := xlator.New(xlatortest.Chain("pass", "mem"), xlatortest.Registry(), env)
	if err != nil {
		t.Fatal(err)
	}
	tab := g.Inodes()
	tab.SetLRULimit(1)
	top := g.Top()
	link := func(name string) *xlator.Inode {
		ia := xlator.Iatt{Gfid: xlator.NewGFID(), Mode: syscall.S_IFREG | 0o644}
		in := tab.New()
		l := tab.Link(in, tab.Root(), name, &ia)
		in.Unref()
		return l
	}
	a := link("a")
	a.SetCtx(top, "ctx of a")
	fd := g.NewFD(a, syscall.O_RDONLY, 1, false)
	fd.SetCtx(top, "ctx of fd")
	if s := poolStats(t, env, "l0:fd_t"); s.Hot != 1 {
		t.Errorf("fd_t hot-count %d with one fd open", s.Hot)
	}
	fd.Unref()
	if s := poolStats(t, env, "l0:fd_t"); s.Hot != 0 {
		t.Errorf("fd_t hot-count %d after the last Unref", s.Hot)
	}
	fd2 := g.NewFD(a, syscall.O_RDONLY, 1, false)
	if fd2 != fd || fd2.Ctx(top) != nil || fd2.Inode != a {
		t.Errorf("released fd not reused clean: same %v, ctx %v", fd2 == fd, fd2.Ctx(top))
	}
	fd2.Unref()

	// Unlinking a and dropping its reference forgets it.
	tab.Unlink(tab.Root(), "a")
	a.Unref()
	b, c := link("b"), link("c") // the LRU limit of 1 forgets b
	defer c.Unref()
	b.Unref()
	hot := poolStats(t, env, "l0:inode_t").Hot
	d := tab.New()
	defer d.Unref()
	if d != a && d != b {
		t.Errorf("a forgotten inode was not reused")
	}
	if d.Ctx(top) != nil || d.GFID() != (xlator.GFID{}) {
		t.Errorf("reused inode not clean: ctx %v gfid %v", d.Ctx(top), d.GFID())
	}
	if s := poolStats(t, env, "l0:inode_t"); s.Hot != hot+1 {
		t.Errorf("inode_t hot-count %d, want %d", s.Hot, hot+1)
	}
}
