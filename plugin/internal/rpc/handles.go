package rpc

import (
	"sync"

	"github.com/xstack/xstack/xlator"
)

// HandleTable maps the handles that travel in requests to the fds and
// inodes they stand for. Handles are never reused while the table lives,
// so a stale one finds nothing (EBADF) instead of someone else's file.
type HandleTable struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]HandleEnt
}

type HandleEnt struct {
	FD    *xlator.FD
	Inode *xlator.Inode
	// owned: the table holds a reference on fd, dropped on release. A
	// host's own fds are not owned (their last Unref must release them),
	// fds made for the far side are.
	Owned bool
}

func NewHandleTable() *HandleTable { return &HandleTable{m: map[uint64]HandleEnt{}} }

// Add stores e under a new handle.
func (t *HandleTable) Add(e HandleEnt) uint64 {
	t.mu.Lock()
	t.next++
	h := t.next
	t.m[h] = e
	t.mu.Unlock()
	return h
}

// Put stores e under h unless h is taken, and returns what h holds.
func (t *HandleTable) Put(h uint64, e HandleEnt) (HandleEnt, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.m[h]; ok {
		return cur, false
	}
	t.m[h] = e
	return e, true
}

// FD returns the fd under h with a reference for the caller.
func (t *HandleTable) FD(h uint64) *xlator.FD {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[h]
	if !ok || e.FD == nil {
		return nil
	}
	return e.FD.Ref()
}

// Inode returns the inode under h with a reference for the caller.
func (t *HandleTable) Inode(h uint64) *xlator.Inode {
	t.mu.Lock()
	e, ok := t.m[h]
	t.mu.Unlock()
	if !ok || e.Inode == nil {
		return nil
	}
	return e.Inode.Ref()
}

func (t *HandleTable) Remove(h uint64) (HandleEnt, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[h]
	delete(t.m, h)
	return e, ok
}

func (t *HandleTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Drain removes every entry and returns them.
func (t *HandleTable) Drain() []HandleEnt {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]HandleEnt, 0, len(t.m))
	for h, e := range t.m {
		out = append(out, e)
		delete(t.m, h)
	}
	return out
}

// TakeOwned removes the entries whose fd the table owns and returns those
// fds, whose references are now the caller's.
func (t *HandleTable) TakeOwned() []*xlator.FD {
	t.mu.Lock()
	defer t.mu.Unlock()
	var owned []*xlator.FD
	for k, e := range t.m {
		if e.Owned {
			owned = append(owned, e.FD)
			delete(t.m, k)
		}
	}
	return owned
}
