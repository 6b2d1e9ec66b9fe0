package statedump

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xstack/xstack/xlator"
)

// timeFormat is GlusterFS's gf_timefmt_FT with microseconds, in UTC.
const timeFormat = "2006-01-02 15:04:05.000000"

// WriteText renders d as a GlusterFS-style statedump: DUMP-START-TIME and
// DUMP-END-TIME lines around "[section]" headers, each followed by
// key=value lines. The section names and keys are listed on the types of
// the schema (see Dump); a section that was not dumped appears with the
// single line "unable to dump: <reason>".
func WriteText(w io.Writer, d *Dump) error {
	t := &textWriter{w: bufio.NewWriter(w), skipped: map[string]string{}, done: map[string]bool{}}
	for _, s := range d.Skipped {
		t.skipped[s.Section] = s.Reason
	}
	t.line("DUMP-START-TIME: " + d.StartTime.UTC().Format(timeFormat))

	p := d.Process
	t.section("xstack")
	t.kv("version", Version)
	t.kv("pid", p.Pid)
	t.kv("name", p.Name)
	t.kv("volfile", p.Volfile)
	if !p.StartTime.IsZero() {
		t.kv("start_time", p.StartTime.UTC().Format(timeFormat))
	}
	t.kv("uptime", time.Duration(p.UptimeSec*float64(time.Second)).Round(time.Millisecond))
	t.kv("go_version", p.GoVersion)
	t.kv("gomaxprocs", p.GOMAXPROCS)
	t.kv("parts", strings.Join(d.Parts, ","))

	if m := d.Memstats; m != nil {
		t.section("go.memstats")
		t.kv("heap_alloc", m.HeapAlloc)
		t.kv("heap_inuse", m.HeapInuse)
		t.kv("heap_idle", m.HeapIdle)
		t.kv("heap_released", m.HeapReleased)
		t.kv("heap_objects", m.HeapObjects)
		t.kv("stack_inuse", m.StackInuse)
		t.kv("sys", m.Sys)
		t.kv("total_alloc", m.TotalAlloc)
		t.kv("next_gc", m.NextGC)
		t.kv("num_gc", m.NumGC)
		t.kv("goroutines", m.Goroutines)
	}
	if m := d.Memory; m != nil {
		t.section("memory")
		t.kv("rss", m.RSS)
		t.kv("rss_anon", m.RSSAnon)
		t.kv("rss_file", m.RSSFile)
		t.kv("rss_shmem", m.RSSShmem)
		t.kv("go_mapped", m.GoMapped)
		t.kv("go_released", m.GoReleased)
		t.kv("go_held", m.GoHeld)
		t.kv("pools", m.Pools)
		t.kv("iobuf_mapped", m.IobufMapped)
		t.kv("iobuf_heap", m.IobufHeap)
		t.kv("slab_mapped", m.SlabMapped)
		t.kv("accounted", m.Accounted)
		t.kv("unaccounted", m.Unaccounted)
		if len(m.Missing) > 0 {
			t.kv("missing", strings.Join(m.Missing, ","))
		}
	}
	t.ifSkipped("mempool")

	perXlator := has(d, PartMem) || has(d, PartPriv) || has(d, PartFops)
	for _, x := range d.Xlators {
		if !perXlator {
			break
		}
		t.section("xlator." + x.Name)
		t.kv("name", x.Name)
		t.kv("type", x.Type)
		t.kv("index", x.Index)
		t.kv("children", strings.Join(x.Children, ","))
		t.kv("up", x.Up)
		for _, mp := range x.MemPools {
			t.mempool(mp)
		}
		priv := x.Type + "." + x.Name + ".priv"
		if !t.ifSkipped(priv) && len(x.Priv) > 0 {
			t.section(priv)
			t.kvs(x.Priv)
		}
		fops := x.Type + "." + x.Name + ".fops"
		if !t.ifSkipped(fops) && len(x.Fops) > 0 {
			t.section(fops)
			for _, f := range x.Fops {
				t.fop(f)
			}
		}
	}
	for _, mp := range d.OtherPools {
		t.mempool(mp)
	}

	if b := d.Iobuf; b != nil {
		t.iobuf(b)
	}
	t.ifSkipped("iobuf.global")

	for _, s := range d.Slabs {
		t.section("slab." + s.Name)
		t.kv("object_size", s.ObjectSize)
		t.kv("aligned_size", s.AlignedSize)
		t.kv("objects_per_slab", s.ObjectsPerSlab)
		t.kv("pages_per_slab", s.PagesPerSlab)
		t.kv("slabs", s.Slabs)
		t.kv("full_slabs", s.FullSlabs)
		t.kv("partial_slabs", s.PartialSlabs)
		t.kv("free_slabs", s.FreeSlabs)
		t.kv("mapped_bytes", s.MappedBytes)
		t.kv("active_objects", s.ActiveObjects)
		t.kv("front_objects", s.FrontObjects)
		t.kv("allocs", s.Allocs)
		t.kv("frees", s.Frees)
		t.kv("front_hits", s.FrontHits)
		t.kv("front_misses", s.FrontMisses)
		t.kv("grows", s.Grows)
		t.kv("reaped", s.Reaped)
		t.kv("errors", s.Errors)
		t.kv("corruptions", s.Corruptions)
	}
	for _, s := range d.Skipped {
		if strings.HasPrefix(s.Section, "slab.") {
			t.ifSkipped(s.Section)
		}
	}

	for _, s := range d.Sections {
		t.section(s.Name)
		t.kvs(s.KVs)
	}
	t.ifSkipped("sections")

	if cp := d.Callpool; cp != nil {
		t.callpool(cp)
	}
	t.ifSkipped("global.callpool")

	if it := d.Itable; it != nil {
		t.section("xlator.itable")
		t.kv("active_size", it.Active)
		t.kv("lru_size", it.LRU)
		t.kv("lru_limit", it.LRULimit)
		t.kv("linked", it.Linked)
		t.kv("dentries", it.Dentries)
		t.kv("created", it.Created)
		t.kv("retired", it.Retired)
		t.kv("errors", it.Errors)
		for i, in := range it.Inodes {
			t.section(fmt.Sprintf("xlator.itable.active.%d", i+1))
			t.kv("gfid", in.Gfid)
			t.kv("path", in.Path)
			t.kv("ia_type", in.Type)
			t.kv("nlookup", in.Nlookup)
			t.kv("ref", in.Ref)
			t.kv("ctx", strings.Join(in.Ctx, ","))
		}
	}
	t.ifSkipped("xlator.itable")

	if f := d.FDTable; f != nil {
		t.section("xlator.fdtable")
		t.kv("openfds", f.Open)
		t.kv("created", f.Created)
		t.kv("ref_errors", f.Errors)
	}

	// Anything skipped that has no place above.
	for _, s := range d.Skipped {
		t.ifSkipped(s.Section)
	}
	t.line("")
	t.line("DUMP-END-TIME: " + d.EndTime.UTC().Format(timeFormat))
	return t.w.Flush()
}

func has(d *Dump, p Part) bool {
	for _, q := range d.Parts {
		if q == string(p) {
			return true
		}
	}
	return false
}

type textWriter struct {
	w       *bufio.Writer
	skipped map[string]string
	done    map[string]bool
}

func (t *textWriter) line(s string) {
	t.w.WriteString(s)
	t.w.WriteByte('\n')
}

func (t *textWriter) section(name string) {
	t.w.WriteString("\n[")
	t.w.WriteString(name)
	t.w.WriteString("]\n")
}

// ifSkipped writes section name with its "unable to dump" line if it was
// skipped (once), and reports whether it was.
func (t *textWriter) ifSkipped(name string) bool {
	reason, ok := t.skipped[name]
	if !ok {
		return false
	}
	if !t.done[name] {
		t.done[name] = true
		t.section(name)
		t.line("unable to dump: " + reason)
	}
	return true
}

func (t *textWriter) kv(k string, v any) {
	t.w.WriteString(k)
	t.w.WriteByte('=')
	t.w.WriteString(oneLine(formatValue(v)))
	t.w.WriteByte('\n')
}

func (t *textWriter) kvs(kvs []KV) {
	for _, kv := range kvs {
		t.kv(kv.Key, kv.Value)
	}
}

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "1"
		}
		return "0"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// oneLine keeps a value on its line: a statedump is read line by line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\n\r") {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

func (t *textWriter) mempool(p MemPool) {
	what := p.Name
	if i := strings.IndexByte(what, ':'); i >= 0 {
		what = what[i+1:]
	}
	t.section(p.Owner + ".mempool." + what)
	t.kv("pool-name", p.Name)
	t.kv("xlator-name", p.Owner)
	t.kv("active-count", p.Active)
	t.kv("sizeof-type", p.SizeofType)
	t.kv("padded-sizeof", p.PaddedSizeof)
	t.kv("size", p.Size)
	t.kv("hot-count", p.Hot)
	t.kv("cold-count", p.Cold)
	t.kv("alloc-count", p.AllocCount)
	t.kv("max-alloc", p.MaxAlloc)
	t.kv("pool-misses", p.Misses)
	t.kv("cur-stdalloc", p.CurStdalloc)
	t.kv("max-stdalloc", p.MaxStdalloc)
	t.kv("put-errors", p.PutErrors)
	t.kv("double-puts", p.DoublePuts)
	t.kv("foreign-puts", p.ForeignPuts)
	t.kv("prealloc-count", p.Prealloc)
}

func usec(ns int64) string { return strconv.FormatFloat(float64(ns)/1e3, 'f', 3, 64) }

func (t *textWriter) fop(f Fop) {
	pre := "fop." + f.Fop + "."
	t.kv(pre+"count", f.Count)
	t.kv(pre+"fail_count", f.Errors)
	t.kv(pre+"bytes", f.Bytes)
	t.kv(pre+"latency_min_usec", usec(f.MinNs))
	t.kv(pre+"latency_ave_usec", usec(f.MeanNs))
	t.kv(pre+"latency_max_usec", usec(f.MaxNs))
	for i, n := range f.Histogram {
		if n == 0 {
			continue
		}
		hi := strconv.FormatUint(1<<(i+1), 10)
		if i == xlator.HistBuckets-1 {
			hi = "inf"
		}
		t.kv(fmt.Sprintf("%shist.%d-%sns", pre, uint64(1)<<i, hi), n)
	}
}

func (t *textWriter) iobuf(b *Iobuf) {
	t.section("iobuf.global")
	t.kv("iobuf_pool", b.Address)
	t.kv("iobuf_pool.default_page_size", b.DefaultPageSize)
	t.kv("iobuf_pool.arena_size", b.ArenaSize)
	t.kv("iobuf_pool.arena_cnt", b.ArenaCnt)
	t.kv("iobuf_pool.request_misses", b.RequestMisses)
	t.kv("iobuf_pool.mapped_bytes", b.MappedBytes)
	t.kv("iobuf_pool.stdalloc_active", b.StdallocActive)
	t.kv("iobuf_pool.stdalloc_bytes", b.StdallocBytes)
	t.kv("iobuf_pool.iobref_active", b.IobrefActive)
	t.kv("iobuf_pool.ref_underflows", b.RefUnderflows)
	t.kv("iobuf_pool.use_after_free", b.UseAfterFree)
	t.kv("iobuf_pool.purged_arenas", b.Purged)
	t.kv("iobuf_pool.active", b.Active)
	for _, c := range b.Classes {
		pre := fmt.Sprintf("class.%d", c.PageSize)
		t.section("iobuf." + pre)
		t.kv(pre+".page_size", c.PageSize)
		t.kv(pre+".num_pages", c.NumPages)
		t.kv(pre+".active_cnt", c.ActiveCnt)
		t.kv(pre+".passive_cnt", c.PassiveCnt)
		t.kv(pre+".alloc_cnt", c.AllocCnt)
		t.kv(pre+".max_active", c.MaxActive)
	}
	for _, a := range b.Arenas {
		pre := fmt.Sprintf("%s.%d", a.State, a.N)
		t.section(pre)
		t.kv(pre+".mem_base", a.MemBase)
		t.kv(pre+".active_cnt", a.ActiveCnt)
		t.kv(pre+".passive_cnt", a.PassiveCnt)
		t.kv(pre+".alloc_cnt", a.AllocCnt)
		t.kv(pre+".max_active", a.MaxActive)
		t.kv(pre+".page_size", a.PageSize)
	}
}

func (t *textWriter) callpool(cp *Callpool) {
	t.section("global.callpool")
	t.kv("callpool.cnt", cp.Count)
	t.kv("callpool.begun", cp.Begun)
	for i, s := range cp.Stacks {
		pre := fmt.Sprintf("global.callpool.stack.%d", i+1)
		t.section(pre)
		t.kv("uid", s.Uid)
		t.kv("gid", s.Gid)
		t.kv("pid", s.Pid)
		t.kv("unique", s.Unique)
		t.kv("op", s.Op)
		t.kv("type", 1) // GF_OP_TYPE_FOP: every call is a fop
		t.kv("cnt", len(s.Frames))
		t.kv("age", time.Duration(s.AgeNs).Round(time.Microsecond))
		t.kv("fork", s.Fork)
		for j, f := range s.Frames {
			t.section(fmt.Sprintf("%s.frame.%d", pre, j+1))
			t.kv("translator", f.Translator)
			t.kv("complete", f.Complete)
			if f.Parent != "" {
				t.kv("parent", f.Parent)
			}
			t.kv("wind_from", f.WindFrom)
			t.kv("wind_to", f.WindTo)
			t.kv("wait", time.Duration(f.WaitNs).Round(time.Microsecond))
		}
	}
}
