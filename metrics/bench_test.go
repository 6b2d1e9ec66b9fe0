package metrics_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/xstack/xstack/metrics"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// rig is Chain("pass", "pass", "mem") with one open file and, with
// serve, a metrics endpoint on it (never scraped unless a test does).
type rig struct {
	g    *xlator.Graph
	fd   *xlator.FD
	data []byte
	srv  *metrics.Server
}

func newRig(tb testing.TB, serve bool) *rig {
	g := xlatortest.Start(tb, xlatortest.Chain("pass", "pass", "mem"), xlatortest.Registry(), nil)
	in, fd := xlatortest.Create(tb, g, "f")
	tb.Cleanup(func() { fd.Unref(); in.Unref() })
	r := &rig{g: g, fd: fd, data: bytes.Repeat([]byte{'x'}, 4096)}
	if serve {
		d, err := statedump.New(statedump.Source{Graph: g})
		if err != nil {
			tb.Fatal(err)
		}
		r.srv, err = metrics.Listen("127.0.0.1:0", d, nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { r.srv.Close() })
	}
	return r
}

// fops runs one fstat and one 4 KiB writev through the graph.
func (r *rig) fops(tb testing.TB, call *xlator.Call, data *iobuf.Iobref) {
	top := r.g.Top()
	if _, err := top.Fstat(call, r.fd); err != nil {
		tb.Fatal(err)
	}
	if _, err := top.Writev(call, r.fd, data, 0); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkFopWithMetrics measures an fstat and a 4 KiB writev through
// two pass layers without a metrics endpoint (the baseline) and with one
// registered and not scraped: the Collector reads the statistics only
// when scraped, so both cost the same.
func BenchmarkFopWithMetrics(b *testing.B) {
	for _, c := range []struct {
		name  string
		serve bool
	}{{"metrics=off", false}, {"metrics=on", true}} {
		b.Run(c.name, func(b *testing.B) {
			r := newRig(b, c.serve)
			data := r.g.Env().Iobufs.FromBytes(r.data)
			defer data.Unref()
			call := xlatortest.Begin(r.g, xlator.FopWritev)
			defer call.Done()
			b.ReportAllocs()
			b.SetBytes(4096)
			for b.Loop() {
				r.fops(b, call, data)
			}
		})
	}
}

// BenchmarkScrape measures one scrape of the rig's endpoint over HTTP.
func BenchmarkScrape(b *testing.B) {
	r := newRig(b, true)
	call := xlatortest.Begin(r.g, xlator.FopWritev)
	data := r.g.Env().Iobufs.FromBytes(r.data)
	r.fops(b, call, data)
	data.Unref()
	call.Done()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get(r.srv.URL())
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestMetricsCostFopsNothing: a registered metrics endpoint adds no
// allocation to a fop (the benchmark above shows the time).
func TestMetricsCostFopsNothing(t *testing.T) {
	allocs := func(serve bool) float64 {
		r := newRig(t, serve)
		data := r.g.Env().Iobufs.FromBytes(r.data)
		defer data.Unref()
		call := xlatortest.Begin(r.g, xlator.FopWritev)
		defer call.Done()
		return testing.AllocsPerRun(200, func() { r.fops(t, call, data) })
	}
	off, on := allocs(false), allocs(true)
	if on != off {
		t.Errorf("a fop allocates %g times with a metrics endpoint, %g without", on, off)
	}
}
