package bio

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// TestStress runs goroutines that each own a region of the file and do
// random reads and writes on it (plain, plugged, split, asynchronous),
// checking every read against a model of the region. Run it with -race.
// The env's cleanup then checks that every bio, iobuf and request came back.
func TestStress(t *testing.T) {
	const (
		goroutines = 8
		region     = stressRegion
	)
	ops := 150
	if testing.Short() {
		ops = 40
	}
	e := newEnv(t, DeviceConfig{QueueDepth: 8, Workers: 3})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			s := &stresser{e: e, t: t, base: int64(g) * region, model: make([]byte, region),
				rnd: rand.New(rand.NewPCG(uint64(g), 42))}
			for range ops {
				if t.Failed() {
					return
				}
				s.step()
			}
		})
	}
	wg.Wait()
	st := e.dev.Stats()
	t.Logf("requests %d, merged %d, completed %d, bytes written %d, read %d; heap iobufs %d",
		st.Requests, st.Merged, st.Completed, st.BytesWritten, st.BytesRead, e.bufs.Stats().RequestMisses)
	if st.InFlight != 0 || st.Errors != 0 || st.Completed != st.Submitted.Read+st.Submitted.Write {
		t.Errorf("device stats %+v", st)
	}
}

type stresser struct {
	e     *env
	t     *testing.T
	base  int64
	model []byte
	rnd   *rand.Rand
	seed  byte
}

// buildWrite returns a write bio at off of k vecs with random sizes, and
// records its data in the model.
func (s *stresser) buildWrite(off, n int) *Bio {
	k := min(1+s.rnd.IntN(20), n)
	b := s.e.set.Alloc(k)
	b.Op, b.Offset = OpWrite, s.base+int64(off)
	left := n
	for i := range k {
		m := left / (k - i)
		if i == k-1 {
			m = left
		}
		s.seed++
		p := s.e.page(4096+m, s.seed)
		po := s.rnd.IntN(4096)
		if err := b.AddPage(p, po, m); err != nil {
			s.t.Error(err)
		}
		copy(s.model[off+n-left:], p.Bytes()[po:po+m])
		p.Unref()
		left -= m
	}
	return b
}

func (s *stresser) step() {
	e, t := s.e, s.t
	off := s.rnd.IntN(stressRegion - 70000)
	n := 1 + s.rnd.IntN(65536)
	switch s.rnd.IntN(5) {
	case 0: // synchronous write
		b := s.buildWrite(off, n)
		if err := e.dev.SubmitWait(b); err != nil {
			t.Error(err)
		}
		b.Put()
	case 1: // asynchronous write, completion through EndIO
		b := s.buildWrite(off, n)
		done := make(chan error, 1)
		b.EndIO = func(b *Bio) { done <- b.Status(); b.Put() }
		e.dev.Submit(b)
		if err := <-done; err != nil {
			t.Error(err)
		}
	case 2: // a plug of adjacent writes, shuffled
		parts := 1 + s.rnd.IntN(6)
		var wg sync.WaitGroup
		var bios []*Bio
		at := off
		for range parts {
			m := 1 + s.rnd.IntN(10000)
			b := s.buildWrite(at, m)
			b.EndIO = func(b *Bio) {
				if b.Status() != nil {
					t.Error(b.Status())
				}
				b.Put()
				wg.Done()
			}
			bios = append(bios, b)
			at += m
		}
		p := e.dev.Plug()
		for _, i := range s.rnd.Perm(parts) {
			wg.Add(1)
			p.Submit(bios[i])
		}
		p.Finish()
		wg.Wait()
	case 3: // a write split in pieces
		b := s.buildWrite(off, n)
		var wg sync.WaitGroup
		for b.Size() > 1 && s.rnd.IntN(3) > 0 {
			f, err := b.Split(1 + s.rnd.IntN(b.Size()-1))
			if err != nil {
				t.Error(err)
				break
			}
			e.dev.Submit(f)
		}
		wg.Add(1)
		b.EndIO = func(b *Bio) { wg.Done() }
		e.dev.Submit(b)
		wg.Wait()
		if err := b.Status(); err != nil {
			t.Error(err)
		}
		b.Put()
	case 4: // read and compare
		b := e.set.Alloc(8)
		b.Op, b.Offset = OpRead, s.base+int64(off)
		for left := n; left > 0; {
			m := min(left, 1+s.rnd.IntN(20000))
			p := e.bufs.Get(m)
			b.AddPage(p, 0, m)
			p.Unref()
			left -= m
			if b.NumVecs() == b.MaxVecs() && left > 0 {
				n -= left
				break
			}
		}
		if err := e.dev.SubmitWait(b); err != nil {
			t.Error(err)
		}
		got := data(b)[:b.Done()]
		want := s.model[off : off+n]
		// Past the file's end the model has zeroes the file lacks.
		if len(got) < len(want) {
			for _, c := range want[len(got):] {
				if c != 0 {
					t.Errorf("short read of %d bytes at %d, want %d", len(got), off, n)
					break
				}
			}
			want = want[:len(got)]
		}
		mustEqual(t, "read back", got, want)
		b.Put()
	}
}

// stressRegion is the bytes of the file each stress goroutine owns.
const stressRegion = 256 << 10
