package statedump_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// slowMem is the mem bottom with an Fstat that takes delay.
type slowMem struct {
	xlatortest.Mem
	delay time.Duration
}

func (s *slowMem) Fstat(c *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	time.Sleep(s.delay)
	return s.Mem.Fstat(c, fd)
}

func profileFop(t *testing.T, pp statedump.ProfilePeriod, volume, fop string) statedump.ProfileFop {
	t.Helper()
	for _, x := range pp.Xlators {
		if x.Name != volume {
			continue
		}
		for _, f := range x.Fops {
			if f.Fop == fop {
				return f
			}
		}
	}
	t.Fatalf("no %s in %s", fop, volume)
	return statedump.ProfileFop{}
}

// TestProfileSelfTime: on "pass" over a bottom whose fstat takes 2ms,
// both translators' fstat latency is 2ms, but the pass layer's self
// time leaves its child's out, and the bottom's is all of it.
func TestProfileSelfTime(t *testing.T) {
	const delay, n = 2 * time.Millisecond, 5
	reg := xlatortest.Registry()
	reg.MustRegister(xlator.Type{Name: "slow", New: func() xlator.Xlator { return &slowMem{delay: delay} }})
	g := xlatortest.Start(t, xlatortest.Chain("pass", "slow"), reg, nil)
	in, fd := xlatortest.Create(t, g, "f")
	defer in.Unref()
	defer fd.Unref()
	call := xlatortest.Begin(g, xlator.FopFstat)
	for range n {
		if _, err := g.Top().Fstat(call, fd); err != nil {
			t.Fatal(err)
		}
	}
	call.Done()
	d, err := statedump.New(statedump.Source{Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	p, err := statedump.NewProfile(d.Snapshot(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Interval != nil {
		t.Errorf("an interval without a baseline")
	}
	top, bottom := profileFop(t, p.Cumulative, "l0", "FSTAT"), profileFop(t, p.Cumulative, "l1", "FSTAT")
	if top.Count != n || bottom.Count != n {
		t.Fatalf("counts %d and %d, want %d", top.Count, bottom.Count, n)
	}
	if top.MeanNs < int64(delay) || bottom.MeanNs < int64(delay) || top.SumNs < bottom.SumNs {
		t.Errorf("latency: top %v, bottom %v, want both ≥ %v and the top's the larger",
			time.Duration(top.MeanNs), time.Duration(bottom.MeanNs), delay)
	}
	if top.SelfMeanNs >= int64(delay)/2 || top.SelfSumNs != top.SumNs-bottom.SumNs {
		t.Errorf("pass layer's self time %v (sum %d, want %d - %d): its child's time is not left out",
			time.Duration(top.SelfMeanNs), top.SelfSumNs, top.SumNs, bottom.SumNs)
	}
	if bottom.SelfSumNs != bottom.SumNs {
		t.Errorf("bottom's self time %d, want all of its %d", bottom.SelfSumNs, bottom.SumNs)
	}
	var text bytes.Buffer
	if err := statedump.WriteProfile(&text, p, statedump.FormatText); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Volume: l0 (type pass, children l1)", "Cumulative Stats:",
		"%-latency   Avg-latency   Min-Latency   Max-Latency      Self-Avg  %-self  No. of calls   Errors   Fop",
		"FSTAT\n", "No interval"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text profile lacks %q:\n%s", want, text.String())
		}
	}
}

// TestProfileClearAndInterval: over the admin socket, a profile is
// cumulative; one with clear makes the stack keep a baseline, and later
// profiles show the interval since it, whatever profiles came between;
// Interval reports the difference of two snapshots taken that far apart.
func TestProfileClearAndInterval(t *testing.T) {
	g, d := workload(t) // 1 create, 10 writes, 1 read
	a := startAdmin(t, d, statedump.AdminConfig{NoSignal: true})
	sock := a.Socket()
	fetch := func(o statedump.ProfileOptions) *statedump.Profile {
		t.Helper()
		p, err := statedump.FetchProfile(sock, o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := fetch(statedump.ProfileOptions{})
	if p.Interval != nil || p.Cleared || profileFop(t, p.Cumulative, "l1", "WRITE").Count != 10 {
		t.Fatalf("first profile: %+v", p)
	}
	if p := fetch(statedump.ProfileOptions{Clear: true}); p.Interval != nil || !p.Cleared {
		t.Fatalf("profile with clear: interval %v cleared %v", p.Interval, p.Cleared)
	}
	c := client{t, g}
	in, fd := c.create("g")
	defer in.Unref()
	defer fd.Unref()
	c.writes(fd, 3)
	for range 2 { // a profile without clear leaves the baseline alone
		p = fetch(statedump.ProfileOptions{})
		if p.Interval == nil {
			t.Fatal("no interval after a clear")
		}
		for _, w := range []struct {
			fop       string
			iv, cumul uint64
		}{{"WRITE", 3, 13}, {"READ", 1, 2}, {"CREATE", 1, 2}} {
			if got := profileFop(t, *p.Interval, "l1", w.fop).Count; got != w.iv {
				t.Errorf("interval %s count %d, want %d", w.fop, got, w.iv)
			}
			if got := profileFop(t, p.Cumulative, "l1", w.fop).Count; got != w.cumul {
				t.Errorf("cumulative %s count %d, want %d", w.fop, got, w.cumul)
			}
		}
		if iv := profileFop(t, *p.Interval, "l1", "WRITE"); iv.Bytes != 3*4096 || iv.SumNs <= 0 || iv.MeanNs <= 0 {
			t.Errorf("interval WRITE %+v", iv)
		}
		if !p.Interval.Start.After(p.Cumulative.Start) || p.Interval.End != p.Cumulative.End {
			t.Errorf("interval %v..%v, cumulative %v..%v", p.Interval.Start, p.Interval.End, p.Cumulative.Start, p.Cumulative.End)
		}
	}

	p = fetch(statedump.ProfileOptions{Interval: 50 * time.Millisecond})
	if p.Interval == nil || p.Interval.DurationSec < 0.05 || p.Interval.DurationSec > 5 {
		t.Fatalf("interval of 50ms: %+v", p.Interval)
	}
	for _, x := range p.Interval.Xlators {
		if len(x.Fops) != 0 {
			t.Errorf("%s served %+v in an idle interval", x.Name, x.Fops)
		}
	}

	// JSON: the Profile type, histograms with their bounds.
	var buf bytes.Buffer
	p = fetch(statedump.ProfileOptions{})
	if err := statedump.WriteProfile(&buf, p, statedump.FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back statedump.Profile
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	w := profileFop(t, *back.Interval, "l1", "WRITE")
	checkBuckets(t, "interval WRITE", w.Count, w.Buckets)
	w = profileFop(t, back.Cumulative, "l0", "WRITE")
	checkBuckets(t, "cumulative WRITE", w.Count, w.Buckets)

	// An old client's version cannot ask for a profile; an unknown op is
	// named.
	if err := statedump.Fetch(sock, statedump.Request{Version: 1, Op: statedump.OpProfile}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "needs protocol version 2") {
		t.Errorf("profile at version 1: %v", err)
	}
	if err := statedump.Fetch(sock, statedump.Request{Op: "profil"}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), `unknown op "profil"`) {
		t.Errorf("unknown op: %v", err)
	}
}

// checkBuckets checks a histogram's buckets: rising, with bounds
// [2^i, 2^(i+1)) ns, adding up to count.
func checkBuckets(t *testing.T, what string, count uint64, bs []statedump.Bucket) {
	t.Helper()
	var sum uint64
	prev := int64(0)
	for _, b := range bs {
		if b.GeNs <= prev || b.GeNs&(b.GeNs-1) != 0 || (b.LtNs != 0 && b.LtNs != 2*b.GeNs) || b.Count == 0 {
			t.Errorf("%s: bucket %+v after %d", what, b, prev)
		}
		prev = b.GeNs
		sum += b.Count
	}
	if sum != count || count == 0 {
		t.Errorf("%s: buckets add up to %d, count %d", what, sum, count)
	}
}

// TestProfileIntervalMinMax: an interval's min and max are exact when the
// run's extremes moved in it, bounds from its buckets otherwise; a
// baseline of another process is refused.
func TestProfileIntervalMinMax(t *testing.T) {
	hist := func(counts map[int]uint64) []uint64 {
		h := make([]uint64, xlator.HistBuckets)
		for i, n := range counts {
			h[i] = n
		}
		return h
	}
	snap := func(at time.Time, pid int, f statedump.Fop) statedump.ProfileSnapshot {
		return statedump.ProfileSnapshot{Time: at, Pid: pid, Name: "v",
			Xlators: []statedump.ProfileXlator{{Name: "v", Type: "t", Fops: []statedump.Fop{f}}}}
	}
	t0 := time.Now()
	// Before: 2 fops, 200ns (bucket 7) and 70µs (bucket 16).
	base := snap(t0, 1, statedump.Fop{Fop: "READ", Count: 2, MinNs: 200, MaxNs: 70000, SumNs: 70200,
		Histogram: hist(map[int]uint64{7: 1, 16: 1})})
	// Then 3 more of about 1.5µs (bucket 10): the extremes stay.
	now := snap(t0.Add(time.Second), 1, statedump.Fop{Fop: "READ", Count: 5, MinNs: 200, MaxNs: 70000, SumNs: 74700,
		Histogram: hist(map[int]uint64{7: 1, 10: 3, 16: 1})})
	p, err := statedump.NewProfile(now, &base)
	if err != nil {
		t.Fatal(err)
	}
	f := profileFop(t, *p.Interval, "v", "READ")
	if f.Count != 3 || f.SumNs != 4500 || f.MeanNs != 1500 || f.MinNs != 1024 || f.MaxNs != 2048 || !f.MinFromBuckets || !f.MaxFromBuckets {
		t.Errorf("interval without new extremes: %+v", f)
	}
	// A slower one moves the run's max: exact.
	now.Xlators[0].Fops[0].MaxNs = 90000
	now.Xlators[0].Fops[0].Histogram[16]++
	now.Xlators[0].Fops[0].Count++
	p, _ = statedump.NewProfile(now, &base)
	if f := profileFop(t, *p.Interval, "v", "READ"); f.MaxNs != 90000 || f.MinNs != 1024 || f.MaxFromBuckets || !f.MinFromBuckets {
		t.Errorf("interval with a new max: min %d max %d", f.MinNs, f.MaxNs)
	}
	if f := profileFop(t, p.Cumulative, "v", "READ"); f.MinNs != 200 || f.MaxNs != 90000 || f.MinFromBuckets || f.MaxFromBuckets {
		t.Errorf("cumulative: %+v", f)
	}
	other := snap(t0, 2, base.Xlators[0].Fops[0])
	if _, err := statedump.NewProfile(now, &other); !errors.Is(err, statedump.ErrRestarted) {
		t.Errorf("baseline of another pid: %v", err)
	}
}
