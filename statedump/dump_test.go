package statedump_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

func TestCollectAfterWorkload(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: pools count nothing and no arena is mapped")
	}
	g, d := workload(t)
	dump, err := d.Collect(statedump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dump.Version != statedump.Version || dump.Process.Name != "l0" || dump.Process.Volfile != "test.hcl" ||
		dump.Process.Pid != os.Getpid() {
		t.Errorf("header %+v", dump.Process)
	}
	if len(dump.Skipped) != 0 {
		t.Errorf("skipped %+v", dump.Skipped)
	}
	if len(dump.Parts) != len(statedump.AllParts) {
		t.Errorf("parts %v", dump.Parts)
	}
	if dump.Memstats == nil || dump.Memstats.HeapInuse == 0 || dump.Memstats.Goroutines == 0 {
		t.Errorf("memstats %+v", dump.Memstats)
	}
	var names []string
	for _, x := range dump.Xlators {
		names = append(names, x.Name+":"+x.Type)
	}
	if got := strings.Join(names, " "); got != "l0:pooled l1:pass l2:mem" {
		t.Fatalf("xlators in graph order: %s", got)
	}
	l0 := dump.Xlator("l0")
	if !l0.Up || len(l0.Children) != 1 || l0.Children[0] != "l1" {
		t.Errorf("l0 identity %+v", l0)
	}
	p := l0.Pool("frames")
	if p == nil {
		t.Fatalf("l0 has no pool frames: %+v", l0.MemPools)
	}
	if p.Name != "l0:frames" || p.Owner != "l0" || p.AllocCount != 10 || p.Hot != 0 || p.Prealloc != 16 ||
		p.SizeofType == 0 || p.Cold != 16 {
		t.Errorf("pool %+v", p)
	}
	for _, x := range dump.Xlators {
		if w := x.Fop("WRITE"); w == nil || w.Count != 10 || w.Bytes != 10*4096 || w.Errors != 0 ||
			len(w.Histogram) != xlator.HistBuckets || w.MinNs <= 0 || w.MaxNs < w.MinNs {
			t.Errorf("%s WRITE %+v", x.Name, w)
		}
		if r := x.Fop("READ"); r == nil || r.Count != 1 {
			t.Errorf("%s READ %+v", x.Name, r)
		}
	}
	if len(l0.Priv) != 2 || l0.Priv[0].Key != "writes" || l0.Priv[0].Value != int64(10) {
		t.Errorf("l0 priv %+v", l0.Priv)
	}
	// Every iobuf went back: the leak signal.
	if dump.Iobuf == nil || dump.Iobuf.Active != 0 || dump.Iobuf.DefaultPageSize == 0 || len(dump.Iobuf.Classes) == 0 {
		t.Errorf("iobuf %+v", dump.Iobuf)
	}
	var allocs uint64
	for _, c := range dump.Iobuf.Classes {
		allocs += c.AllocCnt
	}
	if allocs == 0 {
		t.Errorf("iobuf classes served no allocation: %+v", dump.Iobuf.Classes)
	}
	if len(dump.Slabs) != 1 || dump.Slabs[0].Name != "l0:locks" || dump.Slabs[0].ActiveObjects != 1 {
		t.Errorf("slabs %+v", dump.Slabs)
	}
	if dump.Section("bio.brick0") == nil || dump.Section("fuse") == nil {
		t.Errorf("sections %+v", dump.Sections)
	}
	if dump.Callpool == nil || dump.Callpool.Count != 0 || dump.Callpool.Begun < 2 {
		t.Errorf("callpool %+v", dump.Callpool)
	}
	if dump.FDTable == nil || dump.FDTable.Open != 1 || dump.FDTable.Created != 1 {
		t.Errorf("fdtable %+v", dump.FDTable)
	}
	it := dump.Itable
	if it == nil || it.Active != 1 || len(it.Inodes) != 1 {
		t.Fatalf("itable %+v", it)
	}
	if in := it.Inodes[0]; in.Path != "/f" || in.Type != "IA_IFREG" || in.Ref < 1 || in.Gfid == "" {
		t.Errorf("active inode %+v", in)
	}
	if !dump.EndTime.After(dump.StartTime) && !dump.EndTime.Equal(dump.StartTime) {
		t.Errorf("times %v %v", dump.StartTime, dump.EndTime)
	}
	_ = g
}

func TestJSONParsesBack(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: pools count nothing and no arena is mapped")
	}
	_, d := workload(t)
	var buf bytes.Buffer
	if err := d.Write(&buf, statedump.Options{Format: statedump.FormatJSON}); err != nil {
		t.Fatal(err)
	}
	var dump statedump.Dump
	if err := json.Unmarshal(buf.Bytes(), &dump); err != nil {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	if dump.Xlator("l0").Pool("l0:frames").AllocCount != 10 || dump.Xlator("l2").Fop("WRITE").Count != 10 {
		t.Errorf("round trip lost figures: %+v", dump.Xlators)
	}
	// The documented keys, as a reader without our types sees them.
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "dump_start_time", "dump_end_time", "parts", "process", "go_memstats",
		"xlators", "iobuf", "slabs", "sections", "callpool", "itable", "fdtable"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no key %q", k)
		}
	}
	pool := m["xlators"].([]any)[0].(map[string]any)["mempools"].([]any)[0].(map[string]any)
	for _, k := range []string{"pool-name", "xlator-name", "active-count", "sizeof-type", "padded-sizeof", "size",
		"hot-count", "cold-count", "alloc-count", "max-alloc", "pool-misses", "cur-stdalloc", "max-stdalloc"} {
		if _, ok := pool[k]; !ok {
			t.Errorf("mem-pool JSON has no key %q", k)
		}
	}
	// A fop's histogram comes with its bounds: the non-empty buckets,
	// adding up to the count.
	w := dump.Xlator("l2").Fop("WRITE")
	checkBuckets(t, "l2 WRITE", w.Count, w.Buckets)
	for i, b := range w.Buckets {
		if lo, hi := xlator.HistBounds(bits.Len64(uint64(b.GeNs)) - 1); int64(lo) != b.GeNs || int64(hi) != b.LtNs ||
			w.Histogram[bits.Len64(uint64(b.GeNs))-1] != b.Count {
			t.Errorf("bucket %d %+v does not match the histogram %v", i, b, w.Histogram)
		}
	}
	fop := m["xlators"].([]any)[2].(map[string]any)["fops"].([]any)[0].(map[string]any)
	for _, k := range []string{"fop", "count", "fail_count", "bytes", "latency_min_ns", "latency_ave_ns", "latency_max_ns",
		"latency_sum_ns", "histogram", "buckets"} {
		if _, ok := fop[k]; !ok {
			t.Errorf("fop JSON has no key %q", k)
		}
	}
	if b := fop["buckets"].([]any)[0].(map[string]any); b["ge_ns"] == nil || b["lt_ns"] == nil || b["count"] == nil {
		t.Errorf("bucket JSON %v", b)
	}
	arena := m["iobuf"].(map[string]any)
	for _, k := range []string{"iobuf_pool", "default_page_size", "arena_size", "arena_cnt", "request_misses", "active", "classes", "arenas"} {
		if _, ok := arena[k]; !ok {
			t.Errorf("iobuf JSON has no key %q", k)
		}
	}
}

// parseText splits a text dump into its sections, checking that every
// line is a header, a key=value pair or one of the dump's time lines.
func parseText(t *testing.T, text string) map[string]map[string]string {
	t.Helper()
	secs := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case line == "":
		case strings.HasPrefix(line, "DUMP-START-TIME: "), strings.HasPrefix(line, "DUMP-END-TIME: "):
			secs[line[:strings.IndexByte(line, ':')]] = map[string]string{"time": line[strings.IndexByte(line, ' ')+1:]}
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			name := line[1 : len(line)-1]
			if _, dup := secs[name]; dup {
				t.Errorf("line %d: section %s twice", n, name)
			}
			cur = map[string]string{}
			secs[name] = cur
		case strings.HasPrefix(line, "unable to dump: "):
			cur["unable to dump"] = strings.TrimPrefix(line, "unable to dump: ")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || cur == nil {
				t.Fatalf("line %d is not key=value: %q", n, line)
			}
			cur[k] = v
		}
	}
	return secs
}

func TestTextHasGlusterFSSections(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: pools count nothing and no arena is mapped")
	}
	_, d := workload(t)
	var buf bytes.Buffer
	if err := d.Write(&buf, statedump.Options{}); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	if !strings.HasPrefix(text, "DUMP-START-TIME: ") || !strings.HasSuffix(text, "\n") ||
		!regexp.MustCompile(`\nDUMP-END-TIME: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\n$`).MatchString(text) {
		t.Errorf("DUMP-START-TIME/DUMP-END-TIME lines missing:\n%s", text)
	}
	secs := parseText(t, text)
	want := map[string]map[string]string{
		"xstack":                 {"name": "l0", "volfile": "test.hcl"},
		"xlator.l0":              {"type": "pooled", "children": "l1", "up": "1"},
		"l0.mempool.frames":      {"pool-name": "l0:frames", "xlator-name": "l0", "hot-count": "0", "cold-count": "16", "alloc-count": "10", "active-count": "0", "pool-misses": "0", "max-stdalloc": "0"},
		"pooled.l0.priv":         {"writes": "10", "note": `two\nlines`},
		"pooled.l0.fops":         {"fop.WRITE.count": "10", "fop.WRITE.fail_count": "0", "fop.WRITE.bytes": "40960", "fop.READ.count": "1"},
		"mem.l2.fops":            {"fop.WRITE.count": "10"},
		"iobuf.global":           {"iobuf_pool.active": "0"},
		"slab.l0:locks":          {"active_objects": "1", "object_size": "64"},
		"bio.brick0":             {"bio_alloc": "3"},
		"fuse":                   {"mountpoint": "/mnt/x"},
		"global.callpool":        {"callpool.cnt": "0"},
		"xlator.itable":          {"active_size": "1"},
		"xlator.itable.active.1": {"path": "/f", "ia_type": "IA_IFREG", "ctx": ""},
		"xlator.fdtable":         {"openfds": "1"},
		"go.memstats":            {},
		"DUMP-START-TIME":        {},
		"DUMP-END-TIME":          {},
		"iobuf.class.131072":     {"class.131072.page_size": "131072"},
		"pass.l1.fops":           {},
		"xlator.l2":              {"type": "mem", "children": ""},
	}
	for sec, kvs := range want {
		if kvs == nil {
			continue
		}
		got, ok := secs[sec]
		if !ok {
			t.Errorf("no section [%s]", sec)
			continue
		}
		for k, v := range kvs {
			if got[k] != v {
				t.Errorf("[%s] %s=%q, want %q", sec, k, got[k], v)
			}
		}
	}
	for _, k := range []string{"iobuf_pool", "iobuf_pool.default_page_size", "iobuf_pool.arena_size",
		"iobuf_pool.arena_cnt", "iobuf_pool.request_misses"} {
		if _, ok := secs["iobuf.global"][k]; !ok {
			t.Errorf("[iobuf.global] has no %s", k)
		}
	}
	for _, k := range []string{"heap_inuse", "heap_idle", "heap_released", "sys", "num_gc", "goroutines"} {
		if _, ok := secs["go.memstats"][k]; !ok {
			t.Errorf("[go.memstats] has no %s", k)
		}
	}
	// Latency and the non-zero histogram buckets only.
	f := secs["pooled.l0.fops"]
	var hist uint64
	for k, v := range f {
		if strings.HasPrefix(k, "fop.WRITE.hist.") {
			var n uint64
			fmt.Sscan(v, &n)
			if n == 0 {
				t.Errorf("zero bucket printed: %s=%s", k, v)
			}
			hist += n
		}
	}
	if hist != 10 || f["fop.WRITE.latency_ave_usec"] == "" || f["fop.WRITE.latency_max_usec"] == "" {
		t.Errorf("WRITE latencies %v", f)
	}
	// Arenas appear as GlusterFS names them, with prefixed keys.
	arenas := 0
	for name, kvs := range secs {
		if m := regexp.MustCompile(`^(arena|filled|purge)\.(\d+)$`).FindStringSubmatch(name); m != nil {
			arenas++
			if _, ok := kvs[name+".mem_base"]; !ok {
				t.Errorf("[%s] has no %s.mem_base: %v", name, name, kvs)
			}
		}
	}
	if arenas == 0 {
		t.Errorf("no arena sections:\n%s", text)
	}
}

func TestPartSelection(t *testing.T) {
	_, d := workload(t)
	dump, err := d.Collect(statedump.Options{Parts: []statedump.Part{statedump.PartMem, statedump.PartIobuf}})
	if err != nil {
		t.Fatal(err)
	}
	if dump.Memstats == nil || dump.Iobuf == nil || dump.Xlator("l0").Pool("frames") == nil {
		t.Errorf("selected parts missing")
	}
	if dump.Callpool != nil || dump.Itable != nil || dump.FDTable != nil || dump.Slabs != nil || dump.Sections != nil ||
		dump.Xlator("l0").Fops != nil || dump.Xlator("l0").Priv != nil {
		t.Errorf("unselected parts present: %+v", dump)
	}
	var buf bytes.Buffer
	if err := d.Write(&buf, statedump.Options{Parts: []statedump.Part{statedump.PartBio}}); err != nil {
		t.Fatal(err)
	}
	secs := parseText(t, buf.String())
	if _, ok := secs["bio.brick0"]; !ok {
		t.Errorf("bio part has no [bio.brick0]:\n%s", buf.String())
	}
	for _, not := range []string{"fuse", "iobuf.global", "go.memstats", "xlator.l0", "global.callpool"} {
		if _, ok := secs[not]; ok {
			t.Errorf("bio part has [%s]", not)
		}
	}
	// fuse is a front end's private state.
	dump, _ = d.Collect(statedump.Options{Parts: []statedump.Part{statedump.PartPriv}})
	if dump.Section("fuse") == nil || dump.Section("bio.brick0") != nil || dump.Xlator("l0").Priv == nil {
		t.Errorf("priv part: sections %+v", dump.Sections)
	}

	parts, err := statedump.ParseParts(" mem, iobuf,,callpool ")
	if err != nil || len(parts) != 3 || parts[2] != statedump.PartCallpool {
		t.Errorf("ParseParts: %v %v", parts, err)
	}
	if parts, err := statedump.ParseParts("all"); err != nil || parts != nil {
		t.Errorf("ParseParts(all): %v %v", parts, err)
	}
	_, err = statedump.ParseParts("mem,memory")
	if !errors.Is(err, statedump.ErrUnknownPart) || !strings.Contains(err.Error(), `"memory"`) ||
		!strings.Contains(err.Error(), "mem, iobuf, slab, bio, callpool, priv, fd, inode, fops") {
		t.Errorf("unknown part error: %v", err)
	}
	if _, err := d.Collect(statedump.Options{Parts: []statedump.Part{"nope"}}); !errors.Is(err, statedump.ErrUnknownPart) {
		t.Errorf("Collect with unknown part: %v", err)
	}
	if err := d.Write(&buf, statedump.Options{Format: "xml"}); !errors.Is(err, statedump.ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

func TestInFlightShowsTheHopThatNeverReturned(t *testing.T) {
	blk := newStuck()
	reg := registry(xlator.Type{Name: "stuck", New: func() xlator.Xlator { return blk }})
	g := xlatortest.Start(t, xlatortest.Chain("pass", "stuck", "mem"), reg, nil)
	c := client{t, g}
	in, fd := c.create("f")
	defer in.Unref()
	defer fd.Unref()
	done := make(chan error)
	go func() {
		call := g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{Uid: 42, Gid: 43, Pid: 7}, 99)
		ref, err := g.Top().Readv(call, fd, 10, 0)
		if ref != nil {
			ref.Unref()
		}
		call.Done()
		done <- err
	}()
	<-blk.readEntered
	time.Sleep(3 * time.Millisecond)
	d, err := statedump.New(statedump.Source{Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	dump, err := d.Collect(statedump.Options{Parts: []statedump.Part{statedump.PartCallpool}})
	if err != nil {
		t.Fatal(err)
	}
	var st *statedump.Stack
	for i := range dump.Callpool.Stacks {
		if dump.Callpool.Stacks[i].Unique == 99 {
			st = &dump.Callpool.Stacks[i]
		}
	}
	if st == nil {
		t.Fatalf("call 99 not in the dump: %+v", dump.Callpool)
	}
	if st.Op != "READ" || st.Uid != 42 || st.Gid != 43 || st.Pid != 7 || len(st.Frames) != 2 {
		t.Fatalf("stack %+v", st)
	}
	f1, f2 := st.Frames[0], st.Frames[1]
	if f1.Translator != "l1" || f1.Parent != "l0" || f1.WindFrom != "l0.READ" || f1.WindTo != "l1.READ" ||
		f1.WaitNs < int64(2*time.Millisecond) || f1.Complete {
		t.Errorf("innermost frame %+v", f1)
	}
	if f2.Translator != "l0" || f2.Parent != "" || f2.WindFrom != "graph.READ" || f2.WaitNs < f1.WaitNs || st.AgeNs < f2.WaitNs {
		t.Errorf("outer frame %+v (age %d)", f2, st.AgeNs)
	}
	var buf bytes.Buffer
	if err := statedump.WriteText(&buf, dump); err != nil {
		t.Fatal(err)
	}
	secs := parseText(t, buf.String())
	var stackSec string
	for name, kvs := range secs {
		if strings.HasPrefix(name, "global.callpool.stack.") && !strings.Contains(name, ".frame.") && kvs["unique"] == "99" {
			stackSec = name
		}
	}
	if stackSec == "" {
		t.Fatalf("no stack section for unique 99:\n%s", buf.String())
	}
	if s := secs[stackSec]; s["op"] != "READ" || s["uid"] != "42" || s["cnt"] != "2" {
		t.Errorf("[%s] %v", stackSec, s)
	}
	if f := secs[stackSec+".frame.1"]; f["translator"] != "l1" || f["wind_from"] != "l0.READ" || f["complete"] != "0" || f["wait"] == "" {
		t.Errorf("[%s.frame.1] %v", stackSec, f)
	}
	if secs["global.callpool"]["callpool.cnt"] == "0" {
		t.Errorf("callpool.cnt 0 with a call in flight")
	}
	close(blk.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestBlockedSectionIsReportedBusy(t *testing.T) {
	blk := newStuck()
	blk.blockDump.Store(true)
	reg := registry(xlator.Type{Name: "stuck", New: func() xlator.Xlator { return blk }})
	g := xlatortest.Start(t, xlatortest.Chain("pass", "stuck", "mem"), reg, nil)
	defer close(blk.release)
	d, _ := statedump.New(statedump.Source{Graph: g})
	opts := statedump.Options{Budget: 50 * time.Millisecond}
	t0 := time.Now()
	dump, err := d.Collect(opts)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("dump took %v with a stuck section", el)
	}
	if len(dump.Skipped) != 1 || dump.Skipped[0].Section != "stuck.l1.priv" || dump.Skipped[0].Reason != "busy" {
		t.Fatalf("skipped %+v", dump.Skipped)
	}
	if dump.Xlator("l1").Fops == nil && dump.Xlator("l0").Up == false {
		t.Errorf("the rest of the dump is missing")
	}
	// The collection is still stuck: the next dump does not queue behind it.
	<-blk.dumpEntered
	t0 = time.Now()
	var buf bytes.Buffer
	if err := d.Write(&buf, statedump.Options{Budget: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > time.Second {
		t.Errorf("second dump waited %v for a section known to be stuck", el)
	}
	secs := parseText(t, buf.String())
	if secs["stuck.l1.priv"]["unable to dump"] != "busy" {
		t.Errorf("text: [stuck.l1.priv] %v", secs["stuck.l1.priv"])
	}
	if _, ok := secs["iobuf.global"]; !ok {
		t.Errorf("the rest of the text dump is missing")
	}
}

func TestWriteFile(t *testing.T) {
	_, d := workload(t)
	dir := t.TempDir()
	before := time.Now().Unix()
	path, err := d.WriteFile(dir, statedump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkDumpFile(t, path, before)
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	// A missing directory is made; one that cannot be written is an
	// error that says how to choose another.
	if _, err := d.WriteFile(filepath.Join(dir, "missing"), statedump.Options{}); err != nil {
		t.Errorf("missing dir: %v", err)
	}
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	if _, err := d.WriteFile(filepath.Join(blocker, "sub"), statedump.Options{}); err == nil ||
		!strings.Contains(err.Error(), statedump.DirEnv) {
		t.Errorf("unwritable dir: %v", err)
	}
}

// checkDumpFile checks a dump file's GlusterFS-style name, mode and
// completeness.
func checkDumpFile(t *testing.T, path string, notBefore int64) {
	t.Helper()
	m := regexp.MustCompile(`^l0\.(\d+)\.dump\.(\d+)$`).FindStringSubmatch(filepath.Base(path))
	if m == nil || m[1] != fmt.Sprint(os.Getpid()) {
		t.Fatalf("dump file name %s", filepath.Base(path))
	}
	var sec int64
	fmt.Sscan(m[2], &sec)
	if sec < notBefore || sec > time.Now().Unix() {
		t.Errorf("timestamp %d not in [%d, now]", sec, notBefore)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte("DUMP-START-TIME: ")) || !bytes.Contains(b, []byte("\nDUMP-END-TIME: ")) {
		t.Errorf("dump file incomplete:\n%s", b)
	}
}

func TestFileName(t *testing.T) {
	got := statedump.FileName("a/b", 12, time.Unix(1700000000, 5))
	if got != "a_b.12.dump.1700000000" {
		t.Errorf("FileName %q", got)
	}
}

// TestMemoryAddsUp: the [memory] section sums what the other sections
// show, and memory the stack takes shows as accounted, not as a growing
// remainder: 64 MiB of iobufs, touched, move iobuf_mapped and rss by
// about that much while unaccounted stays put.
func TestMemoryAddsUp(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: pools count nothing and no arena is mapped")
	}
	g, d := workload(t)
	dump, err := d.Collect(statedump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := dump.Memory
	if m == nil || m.RSS <= 0 || m.RSSAnon <= 0 || m.GoMapped <= 0 || len(m.Missing) != 0 {
		t.Fatalf("memory %+v", m)
	}
	var pools int64
	for _, x := range dump.Xlators {
		for _, p := range x.MemPools {
			pools += (p.Prealloc + p.CurStdalloc) * p.PaddedSizeof
		}
	}
	for _, p := range dump.OtherPools {
		pools += (p.Prealloc + p.CurStdalloc) * p.PaddedSizeof
	}
	var slabs int64
	for _, s := range dump.Slabs {
		slabs += s.MappedBytes
	}
	if m.Pools != pools || m.IobufMapped != dump.Iobuf.MappedBytes || m.SlabMapped != slabs ||
		m.GoHeld != m.GoMapped-m.GoReleased || m.Accounted != m.GoHeld+m.IobufMapped+m.SlabMapped ||
		m.Unaccounted != m.RSSAnon+m.RSSShmem-m.Accounted {
		t.Fatalf("memory does not add up: %+v (pools %d, slabs %d, iobuf %d)", m, pools, slabs, dump.Iobuf.MappedBytes)
	}
	// Only part mem: the summary still sums the iobuf and slab figures.
	only, err := d.Collect(statedump.Options{Parts: []statedump.Part{statedump.PartMem}})
	if err != nil {
		t.Fatal(err)
	}
	if only.Iobuf != nil || only.Slabs != nil || only.Memory == nil || only.Memory.IobufMapped != m.IobufMapped {
		t.Fatalf("part mem alone: iobuf %v slabs %v memory %+v", only.Iobuf, only.Slabs, only.Memory)
	}

	var held []*iobuf.Iobuf
	for range 64 {
		b := g.Env().Iobufs.Get(1 << 20)
		clear(b.Bytes())
		held = append(held, b)
	}
	after, err := d.Collect(statedump.Options{Parts: []statedump.Part{statedump.PartMem}})
	for _, b := range held {
		b.Unref()
	}
	if err != nil {
		t.Fatal(err)
	}
	a := after.Memory
	grew, rss := a.IobufMapped-m.IobufMapped, a.RSSAnon+a.RSSShmem-m.RSSAnon-m.RSSShmem
	if grew < 64<<20 || rss < 48<<20 {
		t.Fatalf("64 MiB of iobufs touched: iobuf_mapped +%d MiB, rss +%d MiB", grew>>20, rss>>20)
	}
	if drift := a.Unaccounted - m.Unaccounted; drift > 16<<20 || drift < -(grew-rss)-(16<<20) {
		t.Fatalf("unaccounted moved by %d MiB while 64 MiB of iobufs were taken: %+v", drift>>20, a)
	}
	var text bytes.Buffer
	if err := statedump.WriteText(&text, after); err != nil || !strings.Contains(text.String(), "[memory]\nrss=") {
		t.Fatalf("text dump lacks [memory]: %v\n%.600s", err, text.String())
	}
}
