package xlator

import "sync"

// Upcalls. A translator that learns that a file changed other than by a
// fop that went through the graph's top (the cache translator finding a
// change behind it; a client translator told by a server) reports it with
// Graph.Invalidate, and every front end that caches what the graph told it
// (the FUSE bridge: the kernel's pages and attributes) drops what it holds
// of that inode. It is GlusterFS's upcall cache-invalidation, inside one
// process.

// upcalls are the front ends' invalidation callbacks.
type upcalls struct {
	mu   sync.RWMutex
	next int
	fns  map[int]func(*Inode)
}

// OnInvalidate registers fn, called with the inode of every Invalidate
// until remove is called. fn runs on the goroutine of the translator that
// invalidates, possibly inside a fop: it must not block or call into the
// graph.
func (g *Graph) OnInvalidate(fn func(*Inode)) (remove func()) {
	u := &g.upcalls
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fns == nil {
		u.fns = map[int]func(*Inode){}
	}
	id := u.next
	u.next++
	u.fns[id] = fn
	return func() {
		u.mu.Lock()
		delete(u.fns, id)
		u.mu.Unlock()
	}
}

// Invalidate tells the front ends that in's data or attributes changed
// behind them.
func (g *Graph) Invalidate(in *Inode) {
	if in == nil {
		return
	}
	u := &g.upcalls
	u.mu.RLock()
	defer u.mu.RUnlock()
	for _, fn := range u.fns {
		fn(in)
	}
}
