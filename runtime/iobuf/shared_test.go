package iobuf

import (
	"bytes"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
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
	// The purged arena's pages stay in the file (its seals forbid
	// punching holes), counted idle until the next arena takes them.
	if st := p.Stats(); st.SharedIdleBytes != 2<<20 {
		t.Errorf("idle shared bytes %d after a purge, want %d", st.SharedIdleBytes, 2<<20)
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

// TestSharedSeals tries every way another process holding SharedFile
// could write the pool's memory or change the file's size: each is
// refused, through the descriptor it got and through one it reopens
// read-write by /proc/self/fd, and the pool's data and its own writes
// are unchanged. A private writable mapping is allowed, but what is
// written there stays in it.
func TestSharedSeals(t *testing.T) {
	p, err := New(Config{Shared: true, SharedSize: 16 << 20, NoCPUCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, size := p.SharedFile()
	b := p.Get(64 << 10)
	defer b.Unref()
	copy(b.Bytes(), "goodgood")
	off, _ := p.SharedOffset(b.Bytes())
	page := off &^ 4095

	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if want := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SEAL; err != nil || seals != want {
		t.Fatalf("seals %#x, %v; want %#x", seals, err, want)
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY {
		t.Fatalf("SharedFile flags %#x, %v: not read-only", fl, err)
	}
	rw, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		// Refused outright is as good; the rows below then test the
		// descriptor handed out only.
		t.Logf("reopen read-write refused: %v", err)
		rw = -1
	} else {
		defer unix.Close(rw)
	}
	evil := []byte("EVIL")
	mmapWrite := func(fd, prot, flags int) error {
		m, err := unix.Mmap(fd, page, 4096, prot, flags)
		if err != nil {
			return err
		}
		defer unix.Munmap(m)
		if prot&unix.PROT_WRITE == 0 {
			if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_WRITE); err != nil {
				return err
			}
		}
		copy(m[off-page:], evil)
		return nil
	}
	for _, tc := range []struct {
		name    string
		try     func(fd int) error
		allowed bool // and harmless: it must succeed
	}{
		{"mmap shared writable", func(fd int) error { return mmapWrite(fd, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED) }, false},
		{"mprotect a shared mapping writable", func(fd int) error { return mmapWrite(fd, unix.PROT_READ, unix.MAP_SHARED) }, false},
		{"pwrite", func(fd int) error { _, err := unix.Pwrite(fd, evil, off); return err }, false},
		{"ftruncate to 0", func(fd int) error { return unix.Ftruncate(fd, 0) }, false},
		{"ftruncate larger", func(fd int) error { return unix.Ftruncate(fd, 2*size) }, false},
		{"punch a hole", func(fd int) error {
			return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, page, 4096)
		}, false},
		{"allocate past the end", func(fd int) error { return unix.Fallocate(fd, 0, size, 4096) }, false},
		{"add a seal", func(fd int) error {
			_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
			return err
		}, false},
		{"mmap private writable", func(fd int) error { return mmapWrite(fd, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE) }, true},
	} {
		for _, d := range []struct {
			how string
			fd  int
		}{{"read-only", int(f.Fd())}, {"reopened read-write", rw}} {
			if d.fd < 0 {
				continue
			}
			err := tc.try(d.fd)
			switch {
			case tc.allowed:
				if err != nil {
					t.Errorf("%s (%s descriptor): %v, want it allowed (and private)", tc.name, d.how, err)
				}
			case err == nil:
				t.Errorf("%s (%s descriptor) succeeded", tc.name, d.how)
			}
			if got := string(b.Bytes()[:8]); got != "goodgood" {
				t.Fatalf("after %s (%s descriptor) the pool's data is %q", tc.name, d.how, got)
			}
		}
	}
	// What the seals cannot stop: a descriptor reopened read-write may
	// make the file allocate pages within its size, which the pool then
	// holds; SharedFileBytes shows them.
	before := p.Stats().SharedFileBytes
	if rw >= 0 {
		if err := unix.Fallocate(rw, 0, size-4<<20, 4<<20); err != nil {
			t.Errorf("allocate within the file: %v (sealed now? say so in SharedFile's doc)", err)
		} else if st := p.Stats(); st.SharedFileBytes != before+4<<20 {
			t.Errorf("SharedFileBytes %d after 4 MiB allocated by another, was %d", st.SharedFileBytes, before)
		}
	}
	copy(b.Bytes(), "mine")
	if got := string(b.Bytes()[:8]); got != "minegood" {
		t.Fatalf("the pool's own write after the seals: %q", got)
	}
}

// TestSharedRefRace: SharedRef of any offset, valid or not, while pages
// are taken and freed and arenas purged and mapped again, never touches
// an unmapped arena (the race detector watches), never takes a free page
// back (no use after free, no underflow), and leaves every page free at
// the end.
func TestSharedRefRace(t *testing.T) {
	p, err := New(Config{Shared: true, SharedSize: 64 << 20, PurgeAfter: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	_, size := p.SharedFile()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var offs [8]atomic.Int64 // offsets of pages held now or a moment ago
	for w := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				b := p.Get([]int{4 << 10, 128 << 10, 1 << 20}[i%3])
				o, _ := p.SharedOffset(b.Bytes())
				offs[(w*4+i)%len(offs)].Store(o)
				b.Unref()
				if i%64 == 0 {
					p.Purge(time.Now())
				}
			}
		})
	}
	var got atomic.Int64
	wg.Go(func() {
		r := rand.New(rand.NewSource(1))
		for !stop.Load() {
			off := offs[r.Intn(len(offs))].Load() + int64(r.Intn(8192)) - 4096
			if r.Intn(4) == 0 {
				off = r.Int63n(size)
			}
			if ref, ok := p.SharedRef(off, 1+r.Intn(4096)); ok {
				got.Add(1)
				ref.Unref()
			}
		}
	})
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	st := p.Stats()
	t.Logf("references taken: %d; arenas purged: %d", got.Load(), st.Purged)
	if st.UseAfterFree != 0 || st.RefUnderflows != 0 || st.Active() != 0 {
		t.Fatalf("use after free %d, underflows %d, active %d", st.UseAfterFree, st.RefUnderflows, st.Active())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
