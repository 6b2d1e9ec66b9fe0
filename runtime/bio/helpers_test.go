package bio

import (
	"bytes"
	"os"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
)

// env is what most tests need: an iobuf pool, a bio set and a device over a
// fresh file in t.TempDir(). Its cleanup checks that every bio, request and
// iobuf was returned.
type env struct {
	t    testing.TB
	bufs *iobuf.Pool
	set  *BioSet
	dev  *Device
	file *os.File
}

var testClasses = []iobuf.Class{{PageSize: 4 << 10, NumPages: 512}, {PageSize: 64 << 10, NumPages: 64}, {PageSize: 1 << 20, NumPages: 16}}

func newEnv(t testing.TB, cfg DeviceConfig) *env {
	t.Helper()
	bufs, err := iobuf.New(iobuf.Config{Classes: testClasses})
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewBioSet("test", slab.NewRegistry(), mempool.NewRegistry(nil), 4)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "brick")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "test-dev"
	}
	e := &env{t: t, bufs: bufs, set: set, file: f, dev: NewDevice(int(f.Fd()), cfg)}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	t := e.t
	if err := e.dev.Close(); err != nil {
		t.Errorf("device Close: %v", err)
	}
	if st := e.dev.Stats(); st.InFlight != 0 {
		t.Errorf("device in flight after the test: %d", st.InFlight)
	}
	if st := e.set.Stats(); st.Active != 0 || st.ReserveFree != st.ReserveSize {
		t.Errorf("bio set after the test: active %d, reserve %d/%d", st.Active, st.ReserveFree, st.ReserveSize)
	}
	if err := e.set.Close(); err != nil {
		t.Errorf("bio set Close: %v", err)
	}
	if st := e.bufs.Stats(); st.Active() != 0 || st.IobrefActive != 0 {
		t.Errorf("iobufs after the test: %d active, %d iobrefs", st.Active(), st.IobrefActive)
	}
	e.file.Close()
}

// page returns a pool iobuf of size bytes filled with pattern(seed).
func (e *env) page(size int, seed byte) *iobuf.Iobuf {
	b := e.bufs.Get(size)
	fill(b.Bytes()[:size], seed)
	return b
}

func fill(p []byte, seed byte) {
	for i := range p {
		p[i] = seed + byte(i*7)
	}
}

func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	fill(p, seed)
	return p
}

// writeBio returns a write bio of one vec: n bytes of pattern(seed).
func (e *env) writeBio(off int64, n int, seed byte) *Bio {
	buf := e.page(n, seed)
	defer buf.Unref()
	b := e.set.Alloc(1)
	b.Op, b.Offset = OpWrite, off
	if err := b.AddPage(buf, 0, n); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// readBio returns a read bio of one vec of n bytes.
func (e *env) readBio(off int64, n int) *Bio {
	buf := e.bufs.Get(n)
	defer buf.Unref()
	clear(buf.Bytes())
	b := e.set.Alloc(1)
	b.Op, b.Offset = OpRead, off
	if err := b.AddPage(buf, 0, n); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// data concatenates the bio's segments.
func data(b *Bio) []byte {
	var out []byte
	for s := range b.Segments() {
		out = append(out, s...)
	}
	return out
}

func (e *env) fileBytes(off int64, n int) []byte {
	e.t.Helper()
	p := make([]byte, n)
	k, _ := e.file.ReadAt(p, off)
	return p[:k]
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
	}
}
