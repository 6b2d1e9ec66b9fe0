//go:build !nopools

package mempool_test

import (
	"fmt"

	"github.com/xstack/xstack/runtime/mempool"
)

// locals is what a translator keeps per fop.
type locals struct {
	offset int64
	size   int
}

func Example() {
	reg := mempool.NewRegistry(nil)

	// In the xlator's Init: its pools, named after its volume.
	pool := mempool.New[locals](reg, "v-cache", "locals", 64)

	// Per fop.
	l := pool.Get0()
	l.offset, l.size = 4096, 512
	if err := pool.Put(l); err != nil {
		fmt.Println(err)
	}
	// A bug: the same object put twice. The pool refuses it.
	fmt.Println(pool.Put(l))

	// The statedump.
	for _, st := range reg.ByOwner("v-cache") {
		for _, kv := range st.Fields()[:3] {
			fmt.Printf("%s=%s\n", kv.Key, kv.Value)
		}
		fmt.Printf("alloc-count=%d double-puts=%d\n", st.AllocCount, st.DoublePuts)
	}

	// In Fini.
	reg.Close("v-cache")
	// Output:
	// pool v-cache:locals: mempool: object put twice
	// pool-name=v-cache:locals
	// xlator-name=v-cache
	// active-count=0
	// alloc-count=1 double-puts=1
}
