package plugin

import (
	"sync"

	"github.com/xstack/xstack/xlator"
)

// handleTable maps the handles that travel in requests to the fds and
// inodes they stand for. Handles are never reused while the table lives,
// so a stale one finds nothing (EBADF) instead of someone else's file.
type handleTable struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]handleEnt
}

type handleEnt struct {
	fd *xlator.FD
	in *xlator.Inode
	// owned: the table holds a reference on fd, dropped on release. A
	// host's own fds are not owned (their last Unref must release them),
	// fds made for the far side are.
	owned bool
}

func newHandleTable() *handleTable { return &handleTable{m: map[uint64]handleEnt{}} }

// add stores e under a new handle.
func (t *handleTable) add(e handleEnt) uint64 {
	t.mu.Lock()
	t.next++
	h := t.next
	t.m[h] = e
	t.mu.Unlock()
	return h
}

// put stores e under h unless h is taken, and returns what h holds.
func (t *handleTable) put(h uint64, e handleEnt) (handleEnt, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.m[h]; ok {
		return cur, false
	}
	t.m[h] = e
	return e, true
}

// fd returns the fd under h with a reference for the caller.
func (t *handleTable) fd(h uint64) *xlator.FD {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[h]
	if !ok || e.fd == nil {
		return nil
	}
	return e.fd.Ref()
}

// inode returns the inode under h with a reference for the caller.
func (t *handleTable) inode(h uint64) *xlator.Inode {
	t.mu.Lock()
	e, ok := t.m[h]
	t.mu.Unlock()
	if !ok || e.in == nil {
		return nil
	}
	return e.in.Ref()
}

func (t *handleTable) remove(h uint64) (handleEnt, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[h]
	delete(t.m, h)
	return e, ok
}

func (t *handleTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// drain removes every entry and returns them.
func (t *handleTable) drain() []handleEnt {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]handleEnt, 0, len(t.m))
	for h, e := range t.m {
		out = append(out, e)
		delete(t.m, h)
	}
	return out
}
