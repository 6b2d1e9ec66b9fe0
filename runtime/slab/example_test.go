//go:build !nopools

package slab_test

import (
	"fmt"

	"github.com/xstack/xstack/runtime/slab"
)

func Example() {
	reg := slab.NewRegistry()
	c, err := reg.NewCache("vol0:inode-ctx", slab.Config{Size: 192, Align: slab.CacheLine})
	if err != nil {
		panic(err)
	}
	b, err := c.Alloc()
	if err != nil {
		panic(err)
	}
	copy(b, "hello")
	fmt.Println(len(b), cap(b))
	if err := c.Free(b); err != nil {
		panic(err)
	}
	st := c.Stats()
	fmt.Println(st.Name, st.AlignedSize, st.ObjectsPerSlab, st.Allocs, st.Frees, st.ActiveObjects)
	fmt.Println(c.Close())
	// Output:
	// 192 192
	// vol0:inode-ctx 192 21 1 1 0
	// <nil>
}
