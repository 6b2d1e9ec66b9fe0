package metrics

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
)

// Collector turns a statedump of a running stack into Prometheus metrics
// at every scrape (see the package doc). It is safe for concurrent use.
type Collector struct {
	d      *statedump.Dumper
	budget time.Duration
}

var _ prometheus.Collector = (*Collector)(nil)

// parts are the statedump parts a scrape reads.
var parts = []statedump.Part{statedump.PartFops, statedump.PartMem, statedump.PartIobuf,
	statedump.PartSlab, statedump.PartBio, statedump.PartPriv}

// NewCollector returns a Collector reading d. budget bounds how long a
// section may take before the scrape goes on without it (0: the
// statedump's default).
func NewCollector(d *statedump.Dumper, budget time.Duration) *Collector {
	return &Collector{d: d, budget: budget}
}

// Describe sends nothing: the series follow the stack (its volumes, pools
// and fops served), so the Collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect takes a statedump and sends its figures.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	dump, err := c.d.Collect(statedump.Options{Parts: parts, MaxInodes: -1, Budget: c.budget})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(scrapeMissed, err)
		return
	}
	e := emitter{ch}
	e.gauge(scrapeMissed, float64(len(dump.Skipped)))
	for _, x := range dump.Xlators {
		e.gauge(xlatorUp, b2f(x.Up), x.Name, x.Type)
		for _, f := range x.Fops {
			e.fop(x.Name, f)
		}
		for _, p := range x.MemPools {
			e.pool(p)
		}
		for _, kv := range x.Priv {
			if kv.Key == "fop-contract-breaches" {
				e.counter(fopBreaches, num(kv.Value), x.Name)
			}
		}
		if x.Type == "plugin" {
			e.plugin(x.Name, x.Priv)
		}
	}
	for _, p := range dump.OtherPools {
		e.pool(p)
	}
	if b := dump.Iobuf; b != nil {
		e.iobuf(b)
	}
	for _, s := range dump.Slabs {
		e.slab(s)
	}
	for _, s := range dump.Sections {
		switch {
		case strings.HasPrefix(s.Name, "bio."):
			e.bio(strings.TrimPrefix(s.Name, "bio."), s.KVs)
		case s.Name == "xlator.mount.fuse.priv":
			e.fuse(s.KVs)
		}
	}
}

type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

// histBounds are the le bounds of the latency buckets, in seconds: bucket
// i of the statedump ends at 2^(i+1) ns; the last has none (+Inf).
var histBounds = func() []float64 {
	b := make([]float64, xlator.HistBuckets-1)
	for i := range b {
		_, hi := xlator.HistBounds(i)
		b[i] = hi.Seconds()
	}
	return b
}()

func (e emitter) fop(volume string, f statedump.Fop) {
	buckets := make(map[float64]uint64, len(histBounds))
	var cum uint64
	for i, le := range histBounds {
		if i < len(f.Histogram) {
			cum += f.Histogram[i]
		}
		buckets[le] = cum
	}
	e.ch <- prometheus.MustNewConstHistogram(fopLatency, f.Count, time.Duration(f.SumNs).Seconds(), buckets, volume, f.Fop)
	e.counter(fopErrors, float64(f.Errors), volume, f.Fop)
	if f.Bytes > 0 {
		e.counter(fopBytes, float64(f.Bytes), volume, f.Fop)
	}
}

func (e emitter) pool(p statedump.MemPool) {
	what := p.Name
	if i := strings.IndexByte(what, ':'); i >= 0 {
		what = what[i+1:]
	}
	l := []string{p.Owner, what}
	e.gauge(poolHot, float64(p.Hot), l...)
	e.gauge(poolCold, float64(p.Cold), l...)
	e.gauge(poolMaxHot, float64(p.MaxAlloc), l...)
	e.counter(poolAllocs, float64(p.AllocCount), l...)
	e.counter(poolMisses, float64(p.Misses), l...)
	e.gauge(poolStd, float64(p.CurStdalloc), l...)
	e.gauge(poolPrealloc, float64(p.Prealloc), l...)
	e.gauge(poolObjSize, float64(p.PaddedSizeof), l...)
	e.counter(poolPutErrs, float64(p.PutErrors), l...)
}

func (e emitter) iobuf(b *statedump.Iobuf) {
	e.gauge(iobufMapped, float64(b.MappedBytes))
	e.gauge(iobufArenas, float64(b.ArenaCnt))
	e.gauge(iobufActive, float64(b.Active))
	e.counter(iobufMisses, float64(b.RequestMisses))
	e.gauge(iobufStdBytes, float64(b.StdallocBytes))
	e.gauge(iobrefActive, float64(b.IobrefActive))
	e.counter(iobufPurged, float64(b.Purged))
	e.counter(iobufUnderflows, float64(b.RefUnderflows))
	for _, c := range b.Classes {
		ps := strconv.Itoa(c.PageSize)
		e.gauge(iobufClassAct, float64(c.ActiveCnt), ps)
		e.gauge(iobufClassPass, float64(c.PassiveCnt), ps)
		e.counter(iobufClassAlloc, float64(c.AllocCnt), ps)
	}
}

func (e emitter) slab(s statedump.Slab) {
	e.gauge(slabMapped, float64(s.MappedBytes), s.Name)
	e.gauge(slabActive, float64(s.ActiveObjects), s.Name)
	e.gauge(slabSlabs, float64(s.Slabs), s.Name)
	e.counter(slabAllocs, float64(s.Allocs), s.Name)
	e.counter(slabFrees, float64(s.Frees), s.Name)
	e.counter(slabGrows, float64(s.Grows), s.Name)
	e.counter(slabReaped, float64(s.Reaped), s.Name)
	e.counter(slabErrors, float64(s.Errors), s.Name)
	e.counter(slabCorrupt, float64(s.Corruptions), s.Name)
}

// kvMetric maps one key of a section or of a translator's private state
// to a metric.
type kvMetric struct {
	d       *prometheus.Desc
	counter bool
}

// bioKeys are the keys of a bio.<volume> section (runtime/bio's SetStats
// under "set.", the brick's DeviceStats summed under "brick.").
var bioKeys = map[string]kvMetric{
	"set.active":          {bioActive, false},
	"set.allocs":          {bioAllocs, true},
	"set.reserve-waits":   {bioWaits, true},
	"devices-open":        {bioDevices, false},
	"brick.in-flight":     {bioInFlight, false},
	"brick.requests":      {bioRequests, true},
	"brick.errors":        {bioErrors, true},
	"brick.bytes-read":    {bioRead, true},
	"brick.bytes-written": {bioWritten, true},
}

func (e emitter) bio(volume string, kvs []statedump.KV) {
	for _, kv := range kvs {
		if op, ok := strings.CutPrefix(kv.Key, "brick.submitted."); ok {
			e.counter(bioSubmitted, num(kv.Value), volume, op)
			continue
		}
		e.kv(bioKeys, kv, volume)
	}
}

// fuseKeys are the keys of the FUSE section (mount/fuse's dumpKVs).
var fuseKeys = map[string]kvMetric{
	"bytes-read":      {fuseRead, true},
	"bytes-written":   {fuseWritten, true},
	"nodes":           {fuseNodes, false},
	"open-handles":    {fuseHandles, false},
	"loop.workers":    {fuseWorkers, false},
	"loop.handoffs":   {fuseHandoffs, true},
	"loop.stalls":     {fuseStalls, true},
	"loop.interrupts": {fuseInterrupt, true},
}

func (e emitter) fuse(kvs []statedump.KV) {
	for _, kv := range kvs {
		if op, ok := strings.CutPrefix(kv.Key, "op."); ok {
			if op, ok := strings.CutSuffix(op, ".errors"); ok {
				e.counter(fuseErrors, num(kv.Value), op)
			} else {
				e.counter(fuseRequests, num(kv.Value), op)
			}
			continue
		}
		e.kv(fuseKeys, kv)
	}
}

// pluginKeys are the keys of a plugin volume's private state (plugin's
// Host.Dump).
var pluginKeys = map[string]kvMetric{
	"restarts":          {pluginRestarts, true},
	"calls-timed-out":   {pluginTimeouts, true},
	"pings":             {pluginPings, true},
	"pings-unanswered":  {pluginUnans, true},
	"protocol-breaches": {pluginBreaches, true},
	"plugin-fds":        {pluginFds, false},
	"ring-calls":        {pluginRing, true},
	"grpc-fop-calls":    {pluginGRPC, true},
}

func (e emitter) plugin(volume string, kvs []statedump.KV) {
	for _, kv := range kvs {
		if kv.Key == "state" {
			state, _ := kv.Value.(string)
			for _, s := range pluginStates {
				e.gauge(pluginState, b2f(s == state), volume, s)
			}
			continue
		}
		e.kv(pluginKeys, kv, volume)
	}
}

// kv sends kv's metric if keys names it and its value is a number.
func (e emitter) kv(keys map[string]kvMetric, kv statedump.KV, labels ...string) {
	m, ok := keys[kv.Key]
	if !ok || !isNum(kv.Value) {
		return
	}
	if m.counter {
		e.counter(m.d, num(kv.Value), labels...)
	} else {
		e.gauge(m.d, num(kv.Value), labels...)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func isNum(v any) bool {
	switch v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return true
	}
	return false
}

// num converts a KV's numeric value; anything else is 0.
func num(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case float64:
		return x
	}
	return 0
}
