package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xstack/xstack/metrics"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// scrape gets url and parses it with Prometheus's own text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// find returns the metric of family name whose labels include want, or
// nil.
func find(fams map[string]*dto.MetricFamily, name string, want ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			ok := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					ok = true
				}
			}
			if !ok {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns a counter's or gauge's value, NaN if absent.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := find(fams, name, labels...)
	switch {
	case m == nil:
		return math.NaN()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return math.NaN()
}

// checkHistogram checks one histogram as Prometheus reads it: bounds
// rising, counts cumulative and never above _count, the +Inf bucket (if
// the parser keeps it) equal to _count, and the finite bounds those of
// the statedump's buckets: le = 2^(i+1) ns.
func checkHistogram(t *testing.T, what string, h *dto.Histogram) {
	t.Helper()
	prevLE, prevN := 0.0, uint64(0)
	finite := 0
	for _, b := range h.GetBucket() {
		le, n := b.GetUpperBound(), b.GetCumulativeCount()
		if le <= prevLE || n < prevN || n > h.GetSampleCount() {
			t.Errorf("%s: bucket le=%g count %d after le=%g count %d (sample count %d)", what, le, n, prevLE, prevN, h.GetSampleCount())
		}
		if math.IsInf(le, 1) {
			if n != h.GetSampleCount() {
				t.Errorf("%s: +Inf bucket %d, _count %d", what, n, h.GetSampleCount())
			}
		} else {
			if _, hi := xlator.HistBounds(finite); le != hi.Seconds() {
				t.Errorf("%s: bucket %d has le=%g, want %g", what, finite, le, hi.Seconds())
			}
			finite++
		}
		prevLE, prevN = le, n
	}
	if finite != xlator.HistBuckets-1 {
		t.Errorf("%s: %d finite buckets, want %d", what, finite, xlator.HistBuckets-1)
	}
	if h.GetSampleCount() > 0 && (h.GetSampleSum() <= 0 || h.GetSampleSum() > 60) {
		t.Errorf("%s: _sum %g s for %d fops", what, h.GetSampleSum(), h.GetSampleCount())
	}
}

// TestScrapeCountsFops starts a posix stack with a metrics endpoint, runs
// a known number of fops and scrapes: the fop counts are the fops made,
// failures counted as errors, every histogram consistent, and the
// runtime's figures (mem-pools, iobufs, slabs, bios) present.
func TestScrapeCountsFops(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol.hcl")
	src := fmt.Sprintf("volume \"brick\" {\n  type = \"posix\"\n  directory = %q\n}\n", filepath.Join(dir, "brick"))
	if err := os.WriteFile(vol, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := stack.Open(vol, stack.Options{MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Metrics == nil {
		t.Fatal("no metrics server with MetricsAddr set")
	}
	g := st.Graph
	in, fd := xlatortest.Create(t, g, "f")
	const writes, fstats, misses = 25, 7, 3
	data := g.Env().Iobufs.FromBytes(bytes.Repeat([]byte{'x'}, 4096))
	call := xlatortest.Begin(g, xlator.FopWritev)
	for i := range writes {
		if _, err := g.Top().Writev(call, fd, data, int64(i)*4096); err != nil {
			t.Fatal(err)
		}
	}
	for range fstats {
		if _, err := g.Top().Fstat(call, fd); err != nil {
			t.Fatal(err)
		}
	}
	for i := range misses {
		loc := &xlator.Loc{Parent: g.Inodes().Root(), Name: fmt.Sprintf("missing%d", i)}
		if _, err := g.Top().Lookup(call, loc); err != syscall.ENOENT {
			t.Fatalf("lookup of a missing file: %v", err)
		}
	}
	call.Done()
	data.Unref()
	fd.Unref()
	in.Unref()

	fams := scrape(t, st.Metrics.URL())
	h := func(fop string) *dto.Histogram {
		m := find(fams, "xstack_fop_latency_seconds", "volume", "brick", "fop", fop)
		if m == nil || m.Histogram == nil {
			t.Fatalf("no histogram for %s", fop)
		}
		return m.Histogram
	}
	for _, c := range []struct {
		fop  string
		want uint64
	}{{"CREATE", 1}, {"WRITE", writes}, {"FSTAT", fstats}, {"LOOKUP", misses}} {
		if got := h(c.fop).GetSampleCount(); got != c.want {
			t.Errorf("%s count %d, want %d", c.fop, got, c.want)
		}
	}
	if got := value(fams, "xstack_fop_errors_total", "volume", "brick", "fop", "LOOKUP"); got != misses {
		t.Errorf("LOOKUP errors %g, want %d", got, misses)
	}
	if got := value(fams, "xstack_fop_errors_total", "volume", "brick", "fop", "WRITE"); got != 0 {
		t.Errorf("WRITE errors %g, want 0", got)
	}
	if got := value(fams, "xstack_fop_bytes_total", "volume", "brick", "fop", "WRITE"); got != writes*4096 {
		t.Errorf("WRITE bytes %g, want %d", got, writes*4096)
	}
	for _, m := range fams["xstack_fop_latency_seconds"].GetMetric() {
		checkHistogram(t, m.String(), m.Histogram)
	}
	if fams["xstack_fop_latency_seconds"].GetType() != dto.MetricType_HISTOGRAM ||
		fams["xstack_fop_errors_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("types: %v %v", fams["xstack_fop_latency_seconds"].GetType(), fams["xstack_fop_errors_total"].GetType())
	}
	if value(fams, "xstack_xlator_up", "volume", "brick", "type", "posix") != 1 {
		t.Errorf("brick not up")
	}
	if value(fams, "xstack_iobuf_active_iobufs") != 0 || math.IsNaN(value(fams, "xstack_iobuf_mapped_bytes")) {
		t.Errorf("iobuf: active %g mapped %g", value(fams, "xstack_iobuf_active_iobufs"), value(fams, "xstack_iobuf_mapped_bytes"))
	}
	if fams["xstack_mempool_allocs_total"] == nil || fams["xstack_slab_allocs_total"] == nil {
		t.Errorf("no mem-pool or slab metrics")
	}
	if got := value(fams, "xstack_bio_written_bytes_total", "volume", "brick"); got != writes*4096 {
		t.Errorf("bio bytes written %g, want %d", got, writes*4096)
	}
	if value(fams, "xstack_scrape_skipped_sections") != 0 {
		t.Errorf("sections skipped in an idle stack")
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Errorf("no Go or process collector")
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "xstack_") {
			continue
		}
		switch {
		case f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total"):
			t.Errorf("counter %s without _total", name)
		case f.GetType() != dto.MetricType_COUNTER && strings.HasSuffix(name, "_total"):
			t.Errorf("%s %s ends in _total", f.GetType(), name)
		}
	}

	// More fops show at the next scrape: nothing is cached.
	call = xlatortest.Begin(g, xlator.FopStatfs)
	if _, err := g.Top().Statfs(call, &xlator.Loc{Inode: g.Inodes().Root()}); err != nil {
		t.Fatal(err)
	}
	call.Done()
	if got := find(scrape(t, st.Metrics.URL()), "xstack_fop_latency_seconds", "fop", "STATFS"); got == nil || got.Histogram.GetSampleCount() != 1 {
		t.Errorf("STATFS after a second scrape: %v", got)
	}
}

// fakePlugin stands for a plugin volume: its Dump has the keys plugin's
// Host.Dump reports.
type fakePlugin struct{ xlator.Base }

func (*fakePlugin) Dump() []xlator.KV {
	return []xlator.KV{{Key: "path", Value: "/bin/p"}, {Key: "state", Value: "restarting"},
		{Key: "restarts", Value: 2}, {Key: "calls-timed-out", Value: uint64(1)}, {Key: "ring-calls", Value: uint64(40)}}
}

// TestScrapeFuseAndPlugins: the FUSE front end's section and a plugin
// volume's state become metrics.
func TestScrapeFuseAndPlugins(t *testing.T) {
	reg := xlatortest.Registry()
	reg.MustRegister(xlator.Type{Name: "plugin", MinChildren: 1, MaxChildren: 1,
		New: func() xlator.Xlator { return &fakePlugin{} }})
	env := xlatortest.NewEnv(t)
	env.AddSection("xlator.mount.fuse.priv", func() []xlator.KV {
		return []xlator.KV{{Key: "mountpoint", Value: "/mnt/x"}, {Key: "bytes-read", Value: uint64(8192)},
			{Key: "op.LOOKUP", Value: uint64(5)}, {Key: "op.LOOKUP.errors", Value: uint64(2)}, {Key: "op.READ", Value: uint64(2)},
			{Key: "open-handles", Value: 1}}
	})
	g := xlatortest.Start(t, xlatortest.Chain("plugin", "mem"), reg, env)
	d, err := statedump.New(statedump.Source{Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metrics.Listen("127.0.0.1:0", d, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fams := scrape(t, srv.URL())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"xstack_fuse_requests_total", []string{"op", "LOOKUP"}, 5},
		{"xstack_fuse_request_errors_total", []string{"op", "LOOKUP"}, 2},
		{"xstack_fuse_requests_total", []string{"op", "READ"}, 2},
		{"xstack_fuse_read_bytes_total", nil, 8192},
		{"xstack_fuse_open_handles", nil, 1},
		{"xstack_plugin_state", []string{"volume", "l0", "state", "restarting"}, 1},
		{"xstack_plugin_state", []string{"volume", "l0", "state", "running"}, 0},
		{"xstack_plugin_restarts_total", []string{"volume", "l0"}, 2},
		{"xstack_plugin_calls_timed_out_total", []string{"volume", "l0"}, 1},
		{"xstack_plugin_ring_calls_total", []string{"volume", "l0"}, 40},
	} {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
}

// TestServeEndsWithContext: Serve listens until its context ends.
func TestServeEndsWithContext(t *testing.T) {
	g := xlatortest.Start(t, xlatortest.Chain("mem"), xlatortest.Registry(), nil)
	d, err := statedump.New(statedump.Source{Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, "127.0.0.1:0", d, nil) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := metrics.Listen("256.0.0.1:1", d, nil); err == nil || !strings.Contains(err.Error(), "metrics: listen on 256.0.0.1:1") {
		t.Errorf("bad address: %v", err)
	}
}
