package mempool

import "errors"

// ErrDoublePut is returned by Pool.Put for an object that is already back in
// the pool: it was put twice without a Get in between. The second Put has no
// effect on the pool; the object stays free exactly once.
var ErrDoublePut = errors.New("mempool: object put twice")

// ErrForeignPut is returned by Pool.Put for a pointer the pool never handed
// out: nil, an object of another pool, an object from new(T), or a heap
// fallback object that the sweeper already released. The pool ignores it.
var ErrForeignPut = errors.New("mempool: object not from this pool")
