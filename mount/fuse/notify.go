package fuse

import (
	"encoding/binary"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// Kernel notifications. The bridge tells the kernel to drop what it caches
// in two cases:
//
//   - an inode the graph invalidates (xlator.Graph.Invalidate: the cache
//     translator found the file changed behind it): NOTIFY_INVAL_INODE
//     drops the kernel's pages and attributes of that node;
//   - the node table past Config.InodeLRULimit: NOTIFY_INVAL_ENTRY drops
//     the kernel's dentries of the least recently looked-up files that
//     have no open handle, so that the kernel forgets them (FORGET) and
//     the graph's inode table shrinks, as GlusterFS's fuse lru-limit
//     does. Directories are kept (see shrinkTable).
//
// A notification written to /dev/fuse may wait for a lock the kernel holds
// while it waits for a reply from this daemon (INVAL_ENTRY takes the
// parent directory's lock, which a LOOKUP in that directory holds), so
// notifications are never written by a worker serving a request: they are
// queued and written by one goroutine of their own. The kernel answers
// ENOENT for a node or entry it no longer knows, which is not an error.

// kernel is what the bridge asks of the kernel outside requests:
// notifications (here) and backing files (passthrough.go). conn writes
// them on /dev/fuse itself; goFuseKernel goes through go-fuse's Server
// (mounts through fusermount).
type kernel interface {
	invalInode(ino uint64) error
	invalEntry(parent uint64, name string) error
	openBacking(fd int) (int32, error)
	closeBacking(id int32) error
}

// FUSE notification codes (include/uapi/linux/fuse.h, fuse_notify_code),
// sent in the error field of an out header with unique 0.
const (
	notifyInvalInode = 2
	notifyInvalEntry = 3
)

// invalInode sends NOTIFY_INVAL_INODE for the whole of ino: its pages
// from offset 0 (length 0: to the end) and its attributes.
func (c *conn) invalInode(ino uint64) error {
	var msg [16 + 24]byte
	binary.NativeEndian.PutUint64(msg[16:], ino)
	// off 0, len 0: every page
	return c.notify(notifyInvalInode, msg[:])
}

// invalEntry sends NOTIFY_INVAL_ENTRY for name in parent.
func (c *conn) invalEntry(parent uint64, name string) error {
	msg := make([]byte, 16+16+len(name)+1)
	binary.NativeEndian.PutUint64(msg[16:], parent)
	binary.NativeEndian.PutUint32(msg[24:], uint32(len(name)))
	copy(msg[32:], name)
	return c.notify(notifyInvalEntry, msg)
}

// notify fills msg's out header (length, code, unique 0) and writes it.
func (c *conn) notify(code int32, msg []byte) error {
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint32(msg[4:], uint32(code))
	binary.NativeEndian.PutUint64(msg[8:], 0)
	for {
		_, err := unix.Write(c.fd, msg)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

// goFuseKernel is kernel through go-fuse's Server.
type goFuseKernel struct{ srv *fuse.Server }

func (g goFuseKernel) invalInode(ino uint64) error {
	return statusErr(g.srv.InodeNotify(ino, 0, 0))
}

func (g goFuseKernel) invalEntry(parent uint64, name string) error {
	return statusErr(g.srv.EntryNotify(parent, name))
}

func statusErr(st fuse.Status) error {
	if st == fuse.OK {
		return nil
	}
	return syscall.Errno(st)
}

// notifier queues notifications and writes them from its own goroutine.
type notifier struct {
	k     kernel
	nodes *nodeTable // its limit is Config.InodeLRULimit
	log   *zap.Logger

	mu      sync.Mutex
	inodes  map[uint64]struct{} // nodes to invalidate
	shrink  bool                // the node table is past the limit
	closed  bool
	wake    chan struct{}
	stopped chan struct{}

	invalInodes, invalEntries, shrinks, failed atomic.Uint64
}

func newNotifier(k kernel, nodes *nodeTable, log *zap.Logger) *notifier {
	n := &notifier{k: k, nodes: nodes, log: log,
		inodes: map[uint64]struct{}{}, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go n.run()
	return n
}

// inode queues the invalidation of node id.
func (n *notifier) inode(id uint64) {
	n.mu.Lock()
	if !n.closed {
		n.inodes[id] = struct{}{}
	}
	n.mu.Unlock()
	n.kick()
}

// overLimit queues a shrink of the node table.
func (n *notifier) overLimit() {
	n.mu.Lock()
	n.shrink = !n.closed
	n.mu.Unlock()
	n.kick()
}

func (n *notifier) kick() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// close stops the goroutine and waits for it; queued notifications are
// dropped (the connection is ending).
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.kick()
	<-n.stopped
}

func (n *notifier) run() {
	defer close(n.stopped)
	for range n.wake {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return
		}
		var ids []uint64
		for id := range n.inodes {
			ids = append(ids, id)
		}
		clear(n.inodes)
		shrink := n.shrink
		n.shrink = false
		n.mu.Unlock()
		for _, id := range ids {
			if n.sent(n.k.invalInode(id)) {
				n.invalInodes.Add(1)
			}
		}
		if shrink {
			n.shrinkTable()
		}
	}
}

// sent reports whether a notification was taken; ENOENT (the kernel no
// longer knows the node or entry) counts as done, not taken; other errors
// are counted and logged once in a while.
func (n *notifier) sent(err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, syscall.ENOENT):
		return false
	}
	if f := n.failed.Add(1); f&(f-1) == 0 { // 1st, 2nd, 4th, 8th, …
		n.log.Warn("kernel notification failed", zap.Error(err), zap.Uint64("failures", f))
	}
	return false
}

// shrinkTable asks the kernel to drop the dentries of the least recently
// looked-up nodes until a tenth under the limit, so that it forgets them.
// Only files without an open handle are dropped: a directory's dentry may
// be a process's working directory, which would then read as deleted, and
// an open file's path would too.
func (n *notifier) shrinkTable() {
	victims := n.nodes.lruVictims()
	if len(victims) == 0 {
		return
	}
	n.shrinks.Add(1)
	for _, v := range victims {
		if n.sent(n.k.invalEntry(v.parent, v.name)) {
			n.invalEntries.Add(1)
		}
	}
}

// victim is a dentry to drop from the kernel's cache.
type victim struct {
	parent uint64
	name   string
}

// lruVictims returns the dentries to drop for the table to hold a tenth
// less than its limit: of files without an open handle, the least
// recently looked up first.
func (t *nodeTable) lruVictims() []victim {
	type cand struct {
		n    *node
		used uint64
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Nodes dropped already are on their way out (the kernel's FORGETs
	// come in batches): not counted, not chosen again.
	excess := len(t.byID) - (t.limit - t.limit/10)
	cands := make([]cand, 0, len(t.byID))
	for id, n := range t.byID {
		if n.dropped {
			excess--
			continue
		}
		if id == rootID || n.in.Type() == syscall.S_IFDIR || n.hasHandles() {
			continue
		}
		cands = append(cands, cand{n, n.used})
	}
	if excess <= 0 {
		return nil
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].used < cands[j].used })
	var out []victim
	for _, c := range cands {
		if len(out) == excess {
			break
		}
		parent, name, ok := c.n.in.Dentry()
		if !ok {
			continue
		}
		pn := t.byInode[parent]
		parent.Unref()
		if pn == nil {
			continue
		}
		c.n.dropped = true
		out = append(out, victim{pn.id, name})
	}
	return out
}

// onInvalidate is the bridge's graph upcall: the kernel drops what it
// caches of in, if it knows in.
func (b *bridge) onInvalidate(in *xlator.Inode) {
	b.nodes.mu.RLock()
	nd := b.nodes.byInode[in]
	b.nodes.mu.RUnlock()
	if nd == nil {
		return
	}
	if nt := b.notifier.Load(); nt != nil {
		nt.inode(nd.id)
	}
}

// startNotifier starts the notifications of a mount that is up: the
// graph's invalidations and the inode LRU limit. After stopNotifier (the
// connection ended before the mount finished) it does nothing.
func (b *bridge) startNotifier(k kernel) {
	b.notifyMu.Lock()
	defer b.notifyMu.Unlock()
	if b.notifyStopped {
		return
	}
	n := newNotifier(k, b.nodes, b.log)
	b.notifier.Store(n)
	b.nodes.mu.Lock()
	b.nodes.limit, b.nodes.over = b.cfg.InodeLRULimit, n.overLimit
	b.nodes.mu.Unlock()
	// The graph's table keeps as many idle inodes again, at most: with
	// the kernel's, at most twice the limit in all.
	b.tab.SetLRULimit(b.cfg.InodeLRULimit)
	b.dropUpcall = b.g.OnInvalidate(b.onInvalidate)
}

// stopNotifier stops them, once the connection has ended.
func (b *bridge) stopNotifier() {
	b.notifyMu.Lock()
	defer b.notifyMu.Unlock()
	b.notifyStopped = true
	if b.dropUpcall != nil {
		b.dropUpcall()
	}
	b.nodes.mu.Lock()
	b.nodes.over = nil
	b.nodes.mu.Unlock()
	if n := b.notifier.Load(); n != nil {
		n.close()
	}
}
