package iobuf

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestShared: a Shared pool's pages are in its memfd, where a second
// mapping (as another process makes) sees what was written, SharedRef
// finds the iobuf of an offset, and purged arenas give their range back.
func TestShared(t *testing.T) {
	p, err := New(Config{Shared: true, SharedSize: 64 << 20, PurgeAfter: time.Nanosecond, NoCPUCache: true})
	if err != nil {
		t.Fatal(err)
	}
	f, size := p.SharedFile()
	if f == nil || size != 64<<20 {
		t.Fatalf("SharedFile = %v, %d", f, size)
	}
	other, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(other)

	b := p.Get(1 << 20)
	copy(b.Bytes()[100:], "written in place")
	off, ok := p.SharedOffset(b.Bytes()[100:116])
	if !ok {
		t.Fatal("pool page not in the shared file")
	}
	if got := other[off : off+16]; !bytes.Equal(got, []byte("written in place")) {
		t.Fatalf("other mapping reads %q", got)
	}
	ref, ok := p.SharedRef(off, 16)
	if !ok {
		t.Fatal("SharedRef failed for a live iobuf")
	}
	if b.Refs() != 2 || !bytes.Equal(ref.Seg(0), []byte("written in place")) {
		t.Fatalf("SharedRef: refs %d, data %q", b.Refs(), ref.Seg(0))
	}
	ref.Unref()
	if _, ok := p.SharedRef(off, 2<<20); ok {
		t.Fatal("SharedRef accepted a range past its page")
	}
	if _, ok := p.SharedOffset(make([]byte, 10)); ok {
		t.Fatal("heap memory reported shared")
	}
	heap := p.Get(4 << 20) // larger than every class: the heap
	if _, ok := p.SharedOffset(heap.Bytes()); ok {
		t.Fatal("stdalloc buffer reported shared")
	}
	heap.Unref()

	// A second arena of the class, then both idle: purging keeps one and
	// gives the other's range back, which the next arena reuses.
	b2 := p.Get(1 << 20)
	b3 := p.Get(1 << 20) // the class has 2 pages per arena: a new arena
	off3, _ := p.SharedOffset(b3.Bytes())
	b.Unref()
	b2.Unref()
	b3.Unref()
	if _, ok := p.SharedRef(off, 16); ok {
		t.Fatal("SharedRef took a reference on a free page")
	}
	time.Sleep(time.Millisecond)
	if freed := p.Purge(time.Now()); freed == 0 {
		t.Fatal("nothing purged")
	}
	b4 := p.Get(1 << 20)
	b5 := p.Get(1 << 20)
	b6 := p.Get(1 << 20)
	off6, _ := p.SharedOffset(b6.Bytes())
	if off6 != off3 && off6 != off3-(1<<20) {
		t.Errorf("new arena at %d, the purged one was at %d", off6, off3)
	}
	b4.Unref()
	b5.Unref()
	b6.Unref()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
