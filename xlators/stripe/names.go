package stripe

import (
	"hash/maphash"
	"sync"

	"github.com/xstack/xstack/xlator"
)

// An entry fop reaches the children one after the other or in parallel, so
// while it runs the children legitimately differ: a create has made the
// file on child 0 but not yet on child 1, or not yet stored its geometry
// everywhere; an unlink or a rename has reached some children only. A
// lookup that ran into such a state would report damage that is not
// there. So entry fops hold their names' locks (write side) while they
// change the children, and a fop that finds a name inconsistent looks
// again under the read side before it reports (settled): the entry fop of
// this stack that was changing the name has finished by then, and no new
// one starts until the second look is done. Lookups of consistent names,
// the common case, take no lock at all.
//
// Names are hashed (parent gfid, name) onto a fixed array of locks: two
// names sharing a lock only wait for each other a little longer. Only
// this stack's fops are covered; another process writing the same bricks
// is not (posix refuses bricks another stack holds).

const nameLockCount = 64

// nameLocks are the locks of entry names. The zero value is not usable:
// see newNameLocks.
type nameLocks struct {
	seed  maphash.Seed
	locks [nameLockCount]sync.RWMutex
}

func newNameLocks() *nameLocks { return &nameLocks{seed: maphash.MakeSeed()} }

func (n *nameLocks) index(parent xlator.GFID, name string) int {
	var h maphash.Hash
	h.SetSeed(n.seed)
	_, _ = h.Write(parent[:])
	_, _ = h.WriteString(name)
	return int(h.Sum64() % nameLockCount)
}

// entryOf returns the parent and name loc reaches its file by: its own, or
// the inode's first dentry. ok is false when there is none (the root, or
// an inode the table knows no name of).
func entryOf(loc *xlator.Loc) (parent xlator.GFID, name string, ok bool) {
	if loc.Parent != nil {
		return loc.Parent.GFID(), loc.Name, true
	}
	if loc.Inode == nil {
		return xlator.GFID{}, "", false
	}
	p, name, ok := loc.Inode.Dentry()
	if !ok {
		return xlator.GFID{}, "", false
	}
	parent = p.GFID()
	p.Unref()
	return parent, name, true
}

// lock takes the write side of the locks of the names a and b reach (b
// may be nil: a rename has two names, other entry fops one), in index
// order, each once, and returns the function that releases them. Entry
// fops hold it while they change the children, and must not take a name
// lock again (a settled look) until they have released it.
func (n *nameLocks) lock(a, b *xlator.Loc) (unlock func()) {
	var idx [2]int
	k := 0
	for _, l := range [2]*xlator.Loc{a, b} {
		if l == nil {
			continue
		}
		p, name, ok := entryOf(l)
		if !ok {
			continue
		}
		i := n.index(p, name)
		if k == 1 && idx[0] == i {
			continue
		}
		idx[k] = i
		k++
	}
	if k == 2 && idx[1] < idx[0] {
		idx[0], idx[1] = idx[1], idx[0]
	}
	for _, i := range idx[:k] {
		n.locks[i].Lock()
	}
	return func() {
		for j := k - 1; j >= 0; j-- {
			n.locks[idx[j]].Unlock()
		}
	}
}

// rlock takes the read side of the lock of loc's name and returns the
// function that releases it, or nil when loc reaches no name.
func (n *nameLocks) rlock(loc *xlator.Loc) (unlock func()) {
	p, name, ok := entryOf(loc)
	if !ok {
		return nil
	}
	l := &n.locks[n.index(p, name)]
	l.RLock()
	return l.RUnlock
}
