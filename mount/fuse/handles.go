package fuse

import (
	"sync"

	"github.com/xstack/xstack/xlator"
)

// handle is an open file or directory: what a FUSE file handle (Fh)
// stands for. It owns one reference on its fd, dropped at RELEASE or
// RELEASEDIR.
type handle struct {
	fd   *xlator.FD
	node *node
	// passthrough: the kernel reads and writes this open file's backing
	// file itself (passthrough.go); its RELEASE drops the node's id.
	passthrough bool

	// Directory listing state, guarded by mu: entries the brick returned
	// that did not fit in the previous reply, to be served first when the
	// kernel continues at pendingOff (READDIR requests on one handle are
	// serialised by the kernel, so the lock is never contended).
	mu         sync.Mutex
	pending    []xlator.Dirent
	pendingOff uint64
	pendingPl  bool
}

// handleTable maps FUSE file handles to handles. Handles come from a
// counter and are never reused. Safe for concurrent use.
type handleTable struct {
	mu   sync.RWMutex
	byFh map[uint64]*handle
	next uint64
}

func newHandleTable() *handleTable {
	return &handleTable{byFh: map[uint64]*handle{}, next: 1}
}

func (t *handleTable) add(h *handle) uint64 {
	t.mu.Lock()
	fh := t.next
	t.next++
	t.byFh[fh] = h
	t.mu.Unlock()
	h.node.addHandle(h)
	return fh
}

// get returns the handle of a kernel-provided fh, or nil.
func (t *handleTable) get(fh uint64) *handle {
	t.mu.RLock()
	h := t.byFh[fh]
	t.mu.RUnlock()
	return h
}

// remove takes fh out of the table and returns its handle, or nil.
func (t *handleTable) remove(fh uint64) *handle {
	t.mu.Lock()
	h := t.byFh[fh]
	delete(t.byFh, fh)
	t.mu.Unlock()
	if h != nil {
		h.node.dropHandle(h)
	}
	return h
}

// removeAll empties the table and returns what it held.
func (t *handleTable) removeAll() []*handle {
	t.mu.Lock()
	hs := make([]*handle, 0, len(t.byFh))
	for fh, h := range t.byFh {
		hs = append(hs, h)
		delete(t.byFh, fh)
	}
	t.mu.Unlock()
	for _, h := range hs {
		h.node.dropHandle(h)
	}
	return hs
}

func (t *handleTable) count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byFh)
}
