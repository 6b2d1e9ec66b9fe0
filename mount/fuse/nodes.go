package fuse

import (
	"sync"
	"sync/atomic"

	"github.com/xstack/xstack/xlator"
)

// rootID is the node id FUSE gives the root of the mount.
const rootID = 1

// node is what a FUSE node id stands for: an inode of the graph's table
// and the kernel's lookup count on it, plus what OPEN needs to decide
// whether the kernel may keep its page cache.
type node struct {
	id uint64
	in *xlator.Inode

	nlookup uint64 // guarded by nodeTable.mu
	used    uint64 // nodeTable.clock at the last lookup; guarded by nodeTable.mu
	dropped bool   // its dentry was invalidated since the last lookup; guarded by nodeTable.mu

	// dirty is set when a write, truncate, fallocate or copy through this mount
	// changes the file: the next open does not keep the page cache.
	dirty atomic.Bool

	// privClean: the file had no set-ID bits and no security.capability
	// when last checked and nothing has changed that since (privs.go).
	privClean atomic.Bool

	openMu    sync.Mutex
	handles   []*handle // open file handles of this node, guarded by openMu
	ptID      int32     // the kernel's backing id of the node's passthrough opens; guarded by openMu
	ptRefs    int       // passthrough handles using ptID; guarded by openMu
	openKnown bool      // openMtime and openSize hold the previous open's view
	openMtime xlator.Timespec
	openSize  int64
}

// keepCache records the attributes of an open and reports whether the
// kernel may keep its cached pages: the file is unchanged since the
// previous open through this mount.
func (n *node) keepCache(ia *xlator.Iatt) bool {
	dirty := n.dirty.Swap(false)
	n.openMu.Lock()
	keep := n.openKnown && !dirty && n.openMtime == ia.Mtime && n.openSize == ia.Size
	n.openKnown, n.openMtime, n.openSize = true, ia.Mtime, ia.Size
	n.openMu.Unlock()
	return keep
}

// nodeTable maps FUSE node ids to nodes and inodes to node ids. Ids come
// from a counter and are never reused, so the generation number can stay
// constant. Safe for concurrent use.
type nodeTable struct {
	tab *xlator.Table

	mu      sync.RWMutex
	byID    map[uint64]*node
	byInode map[*xlator.Inode]*node
	next    uint64
	clock   uint64 // lookups so far: the order of use, for the LRU
	root    *node

	// limit is Config.InodeLRULimit (0: none); over is called, outside
	// mu, when a lookup made the table hold more nodes than it.
	limit int
	over  func()
}

func newNodeTable(tab *xlator.Table) *nodeTable {
	t := &nodeTable{tab: tab, byID: map[uint64]*node{}, byInode: map[*xlator.Inode]*node{}, next: rootID + 1}
	t.root = &node{id: rootID, in: tab.Root()}
	t.byID[rootID] = t.root
	t.byInode[t.root.in] = t.root
	return t
}

// get returns the node of a kernel-provided id, or nil if the id is not
// one the bridge handed out (or was forgotten).
func (t *nodeTable) get(id uint64) *node {
	if id == rootID {
		return t.root
	}
	t.mu.RLock()
	n := t.byID[id]
	t.mu.RUnlock()
	return n
}

// lookedUp records that an entry reply names in: it returns in's node
// (made on first sight) with one more kernel lookup, mirrored in the inode
// table. The caller's reference on in is untouched.
func (t *nodeTable) lookedUp(in *xlator.Inode) *node {
	if in == t.root.in {
		return t.root
	}
	t.mu.Lock()
	n := t.byInode[in]
	if n == nil {
		n = &node{id: t.next, in: in}
		t.next++
		t.byID[n.id] = n
		t.byInode[in] = n
	}
	n.nlookup++
	t.clock++
	n.used, n.dropped = t.clock, false
	// Under t.mu so that a concurrent forget cannot drop the table's count
	// to zero between our increment and the table's.
	t.tab.AddLookup(in, 1)
	over := t.limit > 0 && len(t.byID) > t.limit && t.over != nil
	t.mu.Unlock()
	if over {
		t.over()
	}
	return n
}

// forget subtracts n kernel lookups from node id, dropping the id when
// none remain.
func (t *nodeTable) forget(id, nlookup uint64) {
	if id == rootID {
		return
	}
	t.mu.Lock()
	n := t.byID[id]
	if n == nil {
		t.mu.Unlock()
		return
	}
	if nlookup > n.nlookup {
		nlookup = n.nlookup
	}
	n.nlookup -= nlookup
	if n.nlookup == 0 {
		delete(t.byID, id)
		delete(t.byInode, n.in)
	}
	t.mu.Unlock()
	// The table may now retire the inode and call every translator's
	// Forget: outside our lock, which translators never need.
	t.tab.ForgetLookup(n.in, nlookup)
}

// forgetAll drops every kernel lookup, for an unmount: the kernel sends no
// FORGET for what it still knows when the connection ends.
func (t *nodeTable) forgetAll() {
	t.mu.Lock()
	var ns []*node
	for id, n := range t.byID {
		if id != rootID {
			ns = append(ns, n)
		}
	}
	t.mu.Unlock()
	for _, n := range ns {
		t.forget(n.id, ^uint64(0))
	}
}

// count returns the number of node ids the kernel holds, the root included.
func (t *nodeTable) count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byID)
}

// addHandle and dropHandle track the node's open handles so that a GETATTR
// without a file handle can still be answered from an open file (as
// GlusterFS's fuse-bridge does): after an unlink the name is gone but
// fstat(2) on an open descriptor must keep working.
func (n *node) addHandle(h *handle) {
	if n == nil || h.fd.IsDir() {
		return
	}
	n.openMu.Lock()
	n.handles = append(n.handles, h)
	n.openMu.Unlock()
}

func (n *node) dropHandle(h *handle) {
	if n == nil {
		return
	}
	n.openMu.Lock()
	for i, x := range n.handles {
		if x == h {
			n.handles = append(n.handles[:i], n.handles[i+1:]...)
			break
		}
	}
	n.openMu.Unlock()
}

// hasHandles reports whether the node has an open file handle.
func (n *node) hasHandles() bool {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	return len(n.handles) > 0
}

// openFD returns an fd of an open handle of the node with a reference the
// caller drops, or nil.
func (n *node) openFD() *xlator.FD {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	if len(n.handles) == 0 {
		return nil
	}
	return n.handles[0].fd.Ref()
}
