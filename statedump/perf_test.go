package statedump_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// ioRig is a 4 KiB writev loop over Chain("pooled", "pass", "mem") with an optional
// dumper beside it.
type ioRig struct {
	g    *xlator.Graph
	d    *statedump.Dumper
	fd   *xlator.FD
	data []byte
}

func newIORig(tb testing.TB) *ioRig {
	g := xlatortest.Start(tb, xlatortest.Chain("pooled", "pass", "mem"), registry(), nil)
	c := client{tb, g}
	in, fd := c.create("f")
	tb.Cleanup(func() { fd.Unref(); in.Unref() })
	d, err := statedump.New(statedump.Source{Graph: g})
	if err != nil {
		tb.Fatal(err)
	}
	return &ioRig{g: g, d: d, fd: fd, data: bytes.Repeat([]byte{'x'}, 4096)}
}

// writes does n 4 KiB writevs over a 1 MiB region, as a client would:
// an iobref per write, a call per write.
func (r *ioRig) writes(tb testing.TB, n int) {
	top := r.g.Top()
	for i := 0; i < n; i++ {
		ref := r.g.Env().Iobufs.FromBytes(r.data)
		call := r.g.Calls().Begin(context.Background(), xlator.FopWritev, xlator.Creds{}, 0)
		_, err := top.Writev(call, r.fd, ref, int64(i%256)*4096)
		call.Done()
		ref.Unref()
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// dumpEvery dumps every interval (text and JSON in turn) until stop is
// closed and returns how many dumps it made.
func (r *ioRig) dumpEvery(tb testing.TB, interval time.Duration, stop <-chan struct{}) int {
	t := time.NewTicker(interval)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-stop:
			return n
		case <-t.C:
			f := statedump.FormatText
			if n%2 == 1 {
				f = statedump.FormatJSON
			}
			if err := r.d.Write(io.Discard, statedump.Options{Format: f}); err != nil {
				tb.Error(err)
				return n
			}
			n++
		}
	}
}

// BenchmarkWritevDuringDumps measures 4 KiB writev throughput over the mem
// bottom without dumps (the baseline) and with a full dump every 10 ms.
func BenchmarkWritevDuringDumps(b *testing.B) {
	for _, every := range []time.Duration{0, 10 * time.Millisecond} {
		name := "dumps=off"
		if every > 0 {
			name = "dumps=every" + every.String()
		}
		b.Run(name, func(b *testing.B) {
			r := newIORig(b)
			b.SetBytes(4096)
			b.ReportAllocs()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			dumps := 0
			if every > 0 {
				wg.Add(1)
				go func() { defer wg.Done(); dumps = r.dumpEvery(b, every, stop) }()
			}
			b.ResetTimer()
			r.writes(b, b.N)
			b.StopTimer()
			close(stop)
			wg.Wait()
			if every > 0 {
				b.ReportMetric(float64(dumps), "dumps")
			}
		})
	}
}

// TestIODuringDumps: a dump holds no lock of the stack while it renders,
// so IO goes on while a dump is stalled in the middle of writing itself
// out (here a writer that blocks), and while dumps run back to back. The
// throughput cost of dumps is measured by BenchmarkWritevDuringDumps, not
// here: a timed test on a shared machine measures the machine.
func TestIODuringDumps(t *testing.T) {
	r := newIORig(t)
	for _, f := range []statedump.Format{statedump.FormatText, statedump.FormatJSON} {
		w := &stallingWriter{entered: make(chan struct{}), release: make(chan struct{})}
		done := make(chan error, 1)
		go func() { done <- r.d.Write(w, statedump.Options{Format: f}) }()
		<-w.entered
		finished := make(chan struct{})
		go func() { r.writes(t, 2000); close(finished) }()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: writes did not finish while a dump was stalled writing itself out", f)
		}
		close(w.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	n := make(chan int, 1)
	go func() { n <- r.dumpEvery(t, time.Millisecond, stop) }()
	r.writes(t, 20000)
	close(stop)
	if dumps := <-n; dumps == 0 {
		t.Error("no dump ran during the writes")
	}
}

// stallingWriter blocks its first Write until release is closed.
type stallingWriter struct {
	entered, release chan struct{}
	once             sync.Once
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered); <-w.release })
	return len(p), nil
}

// BenchmarkDump is the cost of one full dump of Chain("pooled", "pass",
// "mem"): what a dump every 10 ms takes from the CPUs doing IO.
func BenchmarkDump(b *testing.B) {
	for _, f := range []statedump.Format{statedump.FormatText, statedump.FormatJSON} {
		b.Run("format="+string(f), func(b *testing.B) {
			r := newIORig(b)
			r.writes(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := r.d.Write(io.Discard, statedump.Options{Format: f}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
