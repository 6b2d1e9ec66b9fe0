package pin

import (
	"sync"
	"sync/atomic"
)

// Extra holds the per-P shards of the Ps past the ones a structure was
// made for (GOMAXPROCS raised afterwards: a mounting daemon raises it
// after its graph is built), made on their first use. Growing keeps
// every shard where it is, so a P that loaded the old set still updates
// its own shard, and readers that sum every shard miss none. Lookup is
// lock-free; Grow takes a mutex and must not be called pinned.
type Extra[S any] struct {
	set atomic.Pointer[[]*S]
	mu  sync.Mutex
}

// All returns the extra shards, by P id minus the base.
func (e *Extra[S]) All() []*S {
	if x := e.set.Load(); x != nil {
		return *x
	}
	return nil
}

// Lookup returns shard i (P id minus the base), or nil when it is not
// made yet.
func (e *Extra[S]) Lookup(i int) *S {
	if x := e.All(); i < len(x) {
		return x[i]
	}
	return nil
}

// Grow makes at least n shards, each new one with mk.
func (e *Extra[S]) Grow(n int, mk func() *S) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.All()
	if n <= len(old) {
		return
	}
	x := make([]*S, n)
	copy(x, old)
	for i := len(old); i < n; i++ {
		x[i] = mk()
	}
	e.set.Store(&x)
}
