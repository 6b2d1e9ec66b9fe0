package stripe

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

func TestInitRejectsBadOptions(t *testing.T) {
	cases := []struct {
		opts xlator.Options
		want []string
	}{
		{options(17000, false), []string{"block-size", "multiple of 512"}},
		{options(8<<10, false), []string{"block-size", "minimum"}},
		{options(128<<10, false, xlator.Pattern{Glob: "*.iso", Value: 16<<10 + 1}), []string{"block-size-pattern", `"*.iso"`, "multiple of 512"}},
		{options(128<<10, false, xlator.Pattern{Glob: "[", Value: 1 << 20}), []string{"block-size-pattern", "glob"}},
	}
	for _, tc := range cases {
		g, err := xlator.New(stripeSpec(2, tc.opts), registry(), xlatortest.NewEnv(t))
		if err != nil {
			t.Fatal(err)
		}
		err = g.Init()
		if err == nil {
			t.Errorf("Init accepted %v", tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
}

// TestRandomIO runs random writes, reads and truncates through stripe and
// against a byte slice, over 2 and 3 children, coalesced or not.
func TestRandomIO(t *testing.T) {
	for _, n := range []int{2, 3} {
		for _, co := range []bool{false, true} {
			t.Run(fmt.Sprintf("children=%d/coalesce=%v", n, co), func(t *testing.T) {
				e := newEnv(t, n, options(kb16, co))
				in, fd := e.mustCreate("f")
				geo := Geometry{BlockSize: kb16, Count: n, Coalesce: co}
				rng := rand.New(rand.NewPCG(uint64(n), 7))
				var model []byte
				for op := range 400 {
					switch r := rng.IntN(10); {
					case r < 5:
						off := rng.Int64N(300 << 10)
						data := make([]byte, 1+rng.IntN(70<<10))
						for i := range data {
							data[i] = byte(rng.Uint32())
						}
						e.mustWrite(fd, off, data)
						if end := off + int64(len(data)); end > int64(len(model)) {
							model = append(model, make([]byte, end-int64(len(model)))...)
						}
						copy(model[off:], data)
					case r < 9:
						off := rng.Int64N(400 << 10)
						size := rng.IntN(100 << 10)
						got := e.mustRead(fd, off, size)
						var want []byte
						if off < int64(len(model)) {
							want = model[off:min(int64(len(model)), off+int64(size))]
						}
						if !bytes.Equal(got, want) {
							t.Fatalf("op %d: read %d at %d: got %d bytes, want %d (first difference at %d)",
								op, size, off, len(got), len(want), firstDiff(got, want))
						}
					default:
						size := rng.Int64N(350 << 10)
						if _, err := e.truncate(in, size); err != nil {
							t.Fatalf("truncate %d: %v", size, err)
						}
						if size < int64(len(model)) {
							model = model[:size]
						} else {
							model = append(model, make([]byte, size-int64(len(model)))...)
						}
					}
					if ia := e.mustStat(in); ia.Size != int64(len(model)) {
						t.Fatalf("op %d: size %d, want %d", op, ia.Size, len(model))
					}
				}
				sizes := e.childSizes(in)
				for i, s := range sizes {
					if s > geo.ChildSize(i, int64(len(model))) {
						t.Errorf("child %d holds %d bytes, more than the %d its share of %d needs", i, s, geo.ChildSize(i, int64(len(model))), len(model))
					}
				}
				if st := e.s.Stats(); st.Reads == 0 || st.Writes == 0 || st.Pieces <= st.Reads+st.Writes {
					t.Errorf("stats did not move as expected: %+v", st)
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestHolesAndEOF(t *testing.T) {
	for _, co := range []bool{false, true} {
		t.Run(fmt.Sprintf("coalesce=%v", co), func(t *testing.T) {
			e := newEnv(t, 3, options(kb16, co))
			in, fd := e.mustCreate("sparse")
			// One byte far into the 5th block (child 1): children 0 and 2
			// hold nothing.
			off := int64(4*kb16 + 100)
			e.mustWrite(fd, off, []byte{0xAB})
			if ia := e.mustStat(in); ia.Size != off+1 {
				t.Fatalf("size %d, want %d", ia.Size, off+1)
			}
			before := e.s.Stats()
			got := e.mustRead(fd, 0, 10*kb16)
			if int64(len(got)) != off+1 || got[off] != 0xAB || !bytes.Equal(got[:off], make([]byte, off)) {
				t.Fatalf("read of a sparse file: %d bytes, last %x", len(got), got[len(got)-1])
			}
			if d := e.s.Stats().Sub(before); d.SizeProbes != 1 || d.HoleBytes == 0 {
				t.Errorf("hole read stats: %+v", d)
			}
			// Past the end: empty.
			if got := e.mustRead(fd, off+1, 100); len(got) != 0 {
				t.Errorf("read past EOF gave %d bytes", len(got))
			}
			// A file shorter than a block.
			in2, fd2 := e.mustCreate("small")
			e.mustWrite(fd2, 0, []byte("hello"))
			if got := e.mustRead(fd2, 0, 1<<20); string(got) != "hello" {
				t.Errorf("small file read %q", got)
			}
			if ia := e.mustStat(in2); ia.Size != 5 {
				t.Errorf("small file size %d", ia.Size)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	for _, co := range []bool{false, true} {
		t.Run(fmt.Sprintf("coalesce=%v", co), func(t *testing.T) {
			e := newEnv(t, 3, options(kb16, co))
			geo := Geometry{BlockSize: kb16, Count: 3, Coalesce: co}
			in, fd := e.mustCreate("t")
			data := bytes.Repeat([]byte("0123456789abcdef"), 7*kb16/16)
			e.mustWrite(fd, 0, data)
			for _, size := range []int64{5*kb16 + 3, kb16, 1, 0, 8*kb16 + 11, 2 * kb16} {
				ia, err := e.truncate(in, size)
				if err != nil || ia.Size != size {
					t.Fatalf("truncate to %d: size %d, %v", size, ia.Size, err)
				}
				for i, s := range e.childSizes(in) {
					if want := geo.ChildSize(i, size); s != want {
						t.Errorf("truncate to %d: child %d has %d bytes, want %d", size, i, s, want)
					}
				}
				got := e.mustRead(fd, 0, 1<<20)
				if int64(len(got)) != size {
					t.Fatalf("after truncate to %d read %d bytes", size, len(got))
				}
				if size < int64(len(data)) {
					data = data[:size]
				}
				if !bytes.Equal(got[:len(data)], data) || !bytes.Equal(got[len(data):], make([]byte, len(got)-len(data))) {
					t.Fatalf("after truncate to %d: content differs at %d", size, firstDiff(got, data))
				}
			}
		})
	}
}

// TestGeometryFromXattr checks that a file is read with the geometry it
// was written with, not the volume's current options.
func TestGeometryFromXattr(t *testing.T) {
	e := newEnv(t, 3, options(64<<10, false, xlator.Pattern{Glob: "*.small", Value: kb16}))
	in, fd := e.mustCreate("a.small")
	data := make([]byte, 10*kb16+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	e.mustWrite(fd, 0, data)
	// A file of the default size, for comparison.
	_, fd2 := e.mustCreate("b")
	e.mustWrite(fd2, 0, data)
	// 16KiB blocks over 3 children: child 0 holds blocks 0, 3, 6, 9;
	// child 1 1, 4, 7 and the 123 bytes of 10; child 2 2, 5, 8.
	if sizes, want := e.childSizes(in), []int64{10 * kb16, 10*kb16 + 123, 9 * kb16}; !slices.Equal(sizes, want) {
		t.Errorf("child sizes %v, want %v (16KiB blocks)", sizes, want)
	}

	// As if a new graph ran with other options: the inode's context is
	// gone and the defaults differ.
	e.s.def = Geometry{BlockSize: 256 << 10, Count: 3, Coalesce: true}
	e.s.patterns = nil
	in.DelCtx(e.s)
	fd3 := e.open(in, syscall.O_RDONLY)
	if got := e.mustRead(fd3, 0, len(data)+100); !bytes.Equal(got, data) {
		t.Fatalf("read after the options changed differs at %d", firstDiff(got, data))
	}
	if ia := e.mustStat(in); ia.Size != int64(len(data)) {
		t.Errorf("size after the options changed: %d", ia.Size)
	}
	if x, _ := in.Ctx(e.s).(*inodeCtx); x == nil || x.geo.BlockSize != kb16 || x.geo.Coalesce {
		t.Errorf("geometry loaded %+v", x)
	}
}

func TestChildDown(t *testing.T) {
	e := newEnv(t, 3, options(kb16, false))
	in, fd := e.mustCreate("f")
	e.mustWrite(fd, 0, make([]byte, kb16))
	c1 := e.g.Xlator("c1")
	e.s.Notify(xlator.EventChildDown, c1)
	if e.g.IsUp() {
		t.Error("graph still up after a child went down")
	}
	if _, err := e.write(fd, 0, []byte("x")); err != nil {
		t.Errorf("write to child 0 only while child 1 is down: %v", err)
	}
	if _, err := e.write(fd, kb16, []byte("x")); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("write to child 1 while down: %v", err)
	}
	if _, err := e.stat(in); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("stat while a child is down: %v", err)
	}
	if _, _, err := e.create(nil, "g"); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("create while a child is down: %v", err)
	}
	dump := fmt.Sprint(e.s.Dump())
	if !strings.Contains(dump, "children-down c1") {
		t.Errorf("dump does not show c1 down: %s", dump)
	}
	e.s.Notify(xlator.EventChildUp, c1)
	if !e.g.IsUp() {
		t.Error("graph not up after the child came back")
	}
	if _, err := e.write(fd, kb16, []byte("x")); err != nil {
		t.Errorf("write after the child came back: %v", err)
	}
}

func TestFallocateZerofillDiscard(t *testing.T) {
	for _, co := range []bool{false, true} {
		t.Run(fmt.Sprintf("coalesce=%v", co), func(t *testing.T) {
			e := newEnv(t, 2, options(kb16, co))
			in, fd := e.mustCreate("z")
			data := bytes.Repeat([]byte{0xFF}, 4*kb16)
			e.mustWrite(fd, 0, data)
			c := e.call(xlator.FopZerofill)
			defer c.Done()
			top := e.g.Top()
			if err := top.Discard(c, fd, kb16-10, 20); err != nil {
				t.Fatal(err)
			}
			copy(data[kb16-10:], make([]byte, 20))
			if err := top.Zerofill(c, fd, 3*kb16, 3*kb16); err != nil {
				t.Fatal(err)
			}
			data = append(data[:3*kb16], make([]byte, 3*kb16)...)
			if err := top.Fallocate(c, fd, 0, 6*kb16, kb16+1); err != nil {
				t.Fatal(err)
			}
			data = append(data, make([]byte, kb16+1)...)
			if ia := e.mustStat(in); ia.Size != int64(len(data)) {
				t.Errorf("size %d, want %d", ia.Size, len(data))
			}
			if got := e.mustRead(fd, 0, 1<<20); !bytes.Equal(got, data) {
				t.Errorf("content differs at %d", firstDiff(got, data))
			}
		})
	}
}

// TestNoLeaks checks that the iobufs and the local pool are back where
// they started after a workload, and that the pool served the fops.
func TestNoLeaks(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: the pools count nothing")
	}
	e := newEnv(t, 3, options(kb16, true))
	_, fd := e.mustCreate("f")
	pool := e.g.Env().Iobufs
	data := make([]byte, 200<<10)
	for i := range 20 {
		e.mustWrite(fd, int64(i*7777), data)
		e.mustRead(fd, int64(i*5000), 300<<10)
		e.mustRead(fd, 10<<20, 10) // past the end: a size probe
	}
	st := pool.Stats()
	if st.IobrefActive != 0 || st.StdallocActive != 0 {
		t.Errorf("iobrefs active %d, stdalloc %d", st.IobrefActive, st.StdallocActive)
	}
	for _, cl := range st.Classes {
		if cl.ActiveCnt != 0 {
			t.Errorf("class %d: %d iobufs active", cl.PageSize, cl.ActiveCnt)
		}
	}
	var found bool
	for _, ps := range e.g.Env().Pools.ByOwner("s") {
		if ps.Name == "s:stripe-local" {
			found = true
			if ps.AllocCount < 60 || ps.Active != 0 {
				t.Errorf("stripe-local pool: %d gets, %d active", ps.AllocCount, ps.Active)
			}
		}
	}
	if !found {
		t.Error("no s:stripe-local pool")
	}
}

func TestConcurrentIO(t *testing.T) {
	e := newEnv(t, 3, options(kb16, false))
	const workers = 4
	done := make(chan error, workers)
	for w := range workers {
		_, fd := e.mustCreate(fmt.Sprintf("f%d", w))
		go func() {
			buf := bytes.Repeat([]byte{byte(w + 1)}, 100<<10)
			for i := range 20 {
				off := int64(i * 50000)
				if n, err := e.write(fd, off, buf); err != nil || n != len(buf) {
					done <- fmt.Errorf("write: %d %v", n, err)
					return
				}
				got, err := e.read(fd, off, len(buf))
				if err != nil || !bytes.Equal(got, buf) {
					done <- fmt.Errorf("read back: %v", err)
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestUserXattrFallback: children that refuse trusted.* (posix not run as
// root) get the geometry under user.xstack.stripe, which is read back.
func TestUserXattrFallback(t *testing.T) {
	e := newEnv(t, 2, options(32<<10, true))
	for i := range 2 {
		e.shim(i).refuseTrusted.Store(true)
	}
	in, fd := e.mustCreate("f")
	e.mustWrite(fd, 0, make([]byte, 100<<10))
	c := e.call(xlator.FopGetxattr)
	defer c.Done()
	for i := range 2 {
		v, err := e.mem(i).Getxattr(c, &xlator.Loc{Inode: in}, XattrKeyUser)
		if err != nil || string(v) != "block-size=32768 count=2 coalesce=1" {
			t.Errorf("m%d %s = %q, %v", i, XattrKeyUser, v, err)
		}
		if _, err := e.mem(i).Getxattr(c, &xlator.Loc{Inode: in}, XattrKey); err == nil {
			t.Errorf("m%d has %s too", i, XattrKey)
		}
	}
	e.s.def.BlockSize = 128 << 10
	in.DelCtx(e.s)
	if ia := e.mustStat(in); ia.Size != 100<<10 {
		t.Errorf("size read back with the user key: %d", ia.Size)
	}
	if x, _ := in.Ctx(e.s).(*inodeCtx); x == nil || x.geo.BlockSize != 32<<10 {
		t.Errorf("geometry read back: %+v", x)
	}
	if names, err := e.g.Top().Listxattr(c, &xlator.Loc{Inode: in}); err != nil || len(names) != 0 {
		t.Errorf("listxattr shows %v, %v", names, err)
	}
}
