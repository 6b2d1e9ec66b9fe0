//go:build !nopools

package iobuf_test

import (
	"fmt"

	"github.com/xstack/xstack/runtime/iobuf"
)

// A read path: get a buffer, read into it, hand the data up the stack as an
// iobref, and release everything; the pool's counts return to zero.
func Example() {
	pool, err := iobuf.New(iobuf.Config{})
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	b := pool.Get(4096) // one reference, ours; served by the 8 KiB class
	n := copy(b.Bytes(), "hello, world")

	r := pool.NewIobref() // one reference, ours
	r.AddRange(b, 0, n)   // the iobref takes its own reference on b
	b.Unref()             // so we can drop ours

	out := make([]byte, r.Size())
	r.CopyTo(out)
	fmt.Printf("%d segment(s), %q, page size %d\n", r.Len(), out, b.PageSize())

	r.Unref() // the last reference: b's page goes back to its arena

	s := pool.Stats()
	fmt.Println("active:", s.Active(), "iobrefs:", s.IobrefActive)
	// Output:
	// 1 segment(s), "hello, world", page size 8192
	// active: 0 iobrefs: 0
}

// FromBytes copies caller-owned data (a FUSE write) into pool buffers once.
func ExamplePool_FromBytes() {
	pool, _ := iobuf.New(iobuf.Config{})
	defer pool.Close()

	r := pool.FromBytes(make([]byte, 1<<20+100))
	fmt.Println(r.Len(), "segments,", r.Size(), "bytes")
	var iov [][]byte
	iov = r.AppendIov(iov) // e.g. for a vectored pwrite
	fmt.Println(len(iov[0]), len(iov[1]))
	r.Unref()
	// Output:
	// 2 segments, 1048676 bytes
	// 1048576 100
}
