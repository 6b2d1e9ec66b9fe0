package statedump

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/xlator"
)

// Source is what a Dumper reads: a running graph and its runtime, and the
// metadata the header shows. Only Graph is required.
type Source struct {
	Graph *xlator.Graph
	// Env is the graph's runtime; nil means Graph.Env().
	Env *xlator.Env
	// Name names the dump and its file; "" means the top volume's name.
	Name string
	// Volfile is the volfile's path, for the header.
	Volfile string
	// Started is when the stack started; zero means Graph.Started().
	Started time.Time
}

// Dumper collects and renders statedumps of one Source. It is safe for
// concurrent use; the admin socket and the SIGUSR1 handler share one.
//
// Collection never holds a lock of the stack while rendering: every
// section is first copied into a Dump (the runtime's Stats methods are
// snapshots), then formatted. A section that might wait on a lock (an
// inode table, a slab cache, a translator's Dump) is collected on its own
// goroutine; if it has not returned within Options.Budget it is reported
// as "unable to dump: busy" and the dump goes on without it. While such a
// collection is still stuck, later dumps report the section busy at once
// instead of starting another goroutine behind the same lock.
type Dumper struct {
	src   Source
	env   *xlator.Env
	name  string
	types map[string]string // volume → type

	mu      sync.Mutex
	running map[string]bool // sections whose collection has not returned
}

// New returns a Dumper of src.
func New(src Source) (*Dumper, error) {
	if src.Graph == nil {
		return nil, errors.New("statedump: Source.Graph is nil")
	}
	d := &Dumper{src: src, env: src.Env, name: src.Name, types: map[string]string{},
		running: map[string]bool{}}
	if d.env == nil {
		d.env = src.Graph.Env()
	}
	if d.env == nil {
		return nil, errors.New("statedump: the graph has no Env")
	}
	if d.name == "" {
		d.name = src.Graph.Spec().Top
	}
	for _, v := range src.Graph.Spec().Volumes {
		d.types[v.Name] = v.Type
	}
	return d, nil
}

// Name returns the name dumps are filed under: the top volume's, unless
// Source.Name was set.
func (d *Dumper) Name() string { return d.name }

// pending is a section being collected on its own goroutine.
type pending[T any] struct {
	section string
	ch      chan result[T]
}

type result[T any] struct {
	v     T
	panic any
}

// start begins collecting section with fn. If an earlier collection of the
// section has not returned yet, the returned pending reports it busy.
func start[T any](d *Dumper, section string, fn func() T) *pending[T] {
	p := &pending[T]{section: section}
	d.mu.Lock()
	busy := d.running[section]
	if !busy {
		d.running[section] = true
	}
	d.mu.Unlock()
	if busy {
		return p
	}
	p.ch = make(chan result[T], 1)
	go func() {
		var r result[T]
		defer func() {
			if x := recover(); x != nil {
				r.panic = x
			}
			d.mu.Lock()
			delete(d.running, section)
			d.mu.Unlock()
			p.ch <- r
		}()
		r.v = fn()
	}()
	return p
}

// wait returns the section's value, or records it in dump.Skipped if it is
// not ready by the time expired is closed.
func (p *pending[T]) wait(expired <-chan struct{}, dump *Dump) (T, bool) {
	var zero T
	if p.ch == nil {
		dump.skip(p.section, "busy")
		return zero, false
	}
	var r result[T]
	select {
	case r = <-p.ch:
	default:
		select {
		case r = <-p.ch:
		case <-expired:
			dump.skip(p.section, "busy")
			return zero, false
		}
	}
	if r.panic != nil {
		dump.skip(p.section, fmt.Sprintf("panic: %v", r.panic))
		return zero, false
	}
	return r.v, true
}

func (d *Dump) skip(section, reason string) {
	d.Skipped = append(d.Skipped, Skipped{Section: section, Reason: reason})
}

// Collect takes a snapshot of the selected parts. It returns an error only
// for invalid options; sections that could not be read are listed in
// Dump.Skipped.
func (d *Dumper) Collect(opts Options) (*Dump, error) {
	opts, err := opts.check()
	if err != nil {
		return nil, err
	}
	return d.collect(opts), nil
}

func (d *Dumper) collect(opts Options) *Dump {
	g, env := d.src.Graph, d.env
	now := time.Now()
	dump := &Dump{Version: Version, StartTime: now}
	for _, p := range AllParts {
		if opts.has(p) {
			dump.Parts = append(dump.Parts, string(p))
		}
	}
	started := d.src.Started
	if started.IsZero() {
		started = g.Started()
	}
	dump.Process = Process{Pid: os.Getpid(), Name: d.name, Volfile: d.src.Volfile, StartTime: started,
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if !started.IsZero() {
		dump.Process.UptimeSec = now.Sub(started).Seconds()
	}

	// Start everything that might block, then wait for all of it against
	// one deadline: a dump takes at most one Budget however many sections
	// are stuck.
	expired := make(chan struct{})
	timer := time.AfterFunc(opts.Budget, func() { close(expired) })
	defer timer.Stop()

	n := g.Len()
	names := make([]string, n)
	for i := range names {
		names[i] = g.XlatorName(i)
	}
	var pools *pending[[]mempool.Stats]
	if opts.has(PartMem) && env.Pools != nil {
		pools = start(d, "mempool", env.Pools.Pools)
	}
	privs := make([]*pending[[]xlator.KV], n)
	if opts.has(PartPriv) {
		for i, name := range names {
			x := g.Xlator(name)
			privs[i] = start(d, d.privSection(name), x.Dump)
		}
	}
	// The memory summary (part mem) sums the iobuf and slab figures too.
	var iob *pending[iobuf.Stats]
	if (opts.has(PartIobuf) || opts.has(PartMem)) && env.Iobufs != nil {
		iob = start(d, "iobuf.global", env.Iobufs.Stats)
	}
	var slabs []*pending[slab.Stats]
	if (opts.has(PartSlab) || opts.has(PartMem)) && env.Slabs != nil {
		for _, c := range env.Slabs.Caches() {
			slabs = append(slabs, start(d, "slab."+c.Name(), c.Stats))
		}
	}
	var secs *pending[[]xlator.Section]
	if opts.has(PartBio) || opts.has(PartPriv) {
		secs = start(d, "sections", env.Sections)
	}
	var calls *pending[callSnap]
	if opts.has(PartCallpool) {
		calls = start(d, "global.callpool", func() callSnap {
			n, begun := g.Calls().Count()
			return callSnap{n: n, begun: begun, calls: g.Calls().InFlight()}
		})
	}
	var itab *pending[itableSnap]
	if opts.has(PartInode) {
		max := opts.MaxInodes
		itab = start(d, "xlator.itable", func() itableSnap {
			s := itableSnap{stats: g.Inodes().Stats()}
			if max > 0 {
				s.active = g.Inodes().Active(max)
			}
			return s
		})
	}

	// What never blocks is read here, while the rest is being collected.
	if opts.has(PartMem) {
		dump.Memstats = readMemstats()
	}
	dump.Xlators = make([]Xlator, n)
	for i, name := range names {
		x := g.Xlator(name)
		xi := Xlator{Index: i, Name: name, Type: d.types[name], Children: []string{}}
		if b, ok := xlator.Unwrap(x).(interface{ IsUp() bool }); ok {
			xi.Up = b.IsUp()
		}
		if b, ok := xlator.Unwrap(x).(interface{ Children() []xlator.Xlator }); ok {
			for _, c := range b.Children() {
				xi.Children = append(xi.Children, xlator.Name(c))
			}
		}
		dump.Xlators[i] = xi
	}
	if opts.has(PartFops) {
		d.collectFops(dump)
	}
	if opts.has(PartFD) {
		f := g.FDs()
		dump.FDTable = &FDTable{Open: f.Open, Created: f.Created, Errors: f.Errors}
	}

	// Now wait, in dump order.
	var mem memSources
	if pools != nil {
		if ps, ok := pools.wait(expired, dump); ok {
			mem.pools = ps
			idx := map[string]int{}
			for i, name := range names {
				idx[name] = i
			}
			for _, s := range ps {
				if i, ok := idx[s.Owner]; ok {
					dump.Xlators[i].MemPools = append(dump.Xlators[i].MemPools, memPool(s))
				} else {
					dump.OtherPools = append(dump.OtherPools, memPool(s))
				}
			}
		}
	}
	for i, p := range privs {
		if p == nil {
			continue
		}
		if kvs, ok := p.wait(expired, dump); ok {
			dump.Xlators[i].Priv = convKVs(kvs)
		}
	}
	if iob != nil {
		s, ok := iob.wait(expired, dump)
		mem.iobuf, mem.iobufOK = s, ok
		if ok && opts.has(PartIobuf) {
			dump.Iobuf = iobufOf(s, env.Iobufs)
		}
	}
	mem.slabsOK = true
	for _, p := range slabs {
		s, ok := p.wait(expired, dump)
		mem.slabsOK = mem.slabsOK && ok
		if ok {
			mem.slabs = append(mem.slabs, s)
			if opts.has(PartSlab) {
				dump.Slabs = append(dump.Slabs, slabOf(s))
			}
		}
	}
	if opts.has(PartMem) {
		mem.poolsOK = pools == nil || mem.pools != nil
		mem.iobufOK = mem.iobufOK || iob == nil
		dump.Memory = memoryOf(mem)
	}
	if secs != nil {
		if ss, ok := secs.wait(expired, dump); ok {
			for _, s := range ss {
				part := sectionPart(s.Name)
				if opts.has(part) {
					dump.Sections = append(dump.Sections, Section{Name: s.Name, KVs: convKVs(s.KVs)})
				}
			}
		}
	}
	if calls != nil {
		if s, ok := calls.wait(expired, dump); ok {
			dump.Callpool = d.callpoolOf(s, names)
		}
	}
	if itab != nil {
		if s, ok := itab.wait(expired, dump); ok {
			dump.Itable = itableOf(s, names)
		}
	}
	dump.EndTime = time.Now()
	return dump
}

func (d *Dumper) privSection(name string) string {
	return d.types[name] + "." + name + ".priv"
}

func (d *Dumper) fopsSection(name string) string {
	return d.types[name] + "." + name + ".fops"
}

// sectionPart says which part a registered section belongs to: the part
// named by the first dot-separated word of its name ("bio.brick0" is
// part bio), or priv for names that are no part ("fuse"): GlusterFS dumps a
// front end's state as its private state.
func sectionPart(name string) Part {
	first := name
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			first = name[:i]
			break
		}
	}
	if p, err := ParsePart(first); err == nil {
		return p
	}
	return PartPriv
}

// collectFops reads every translator's fop statistics: atomic counters,
// never a lock. The graph's wrapper exposes them; a translator reached
// without one (which the graph never hands out) is skipped.
func (d *Dumper) collectFops(dump *Dump) {
	type statser interface{ Stats() xlator.XlatorStats }
	for i := range dump.Xlators {
		x := d.src.Graph.Xlator(dump.Xlators[i].Name)
		s, ok := x.(statser)
		if !ok {
			dump.skip(d.fopsSection(dump.Xlators[i].Name), "no statistics")
			continue
		}
		for _, f := range s.Stats().Fops {
			dump.Xlators[i].Fops = append(dump.Xlators[i].Fops, Fop{Fop: f.Fop, Count: f.Count, Errors: f.Errors,
				Bytes: f.Bytes, MinNs: int64(f.Min), MeanNs: int64(f.Mean), MaxNs: int64(f.Max), SumNs: int64(f.Sum), Histogram: f.Hist, Buckets: bucketsOf(f.Hist)})
		}
	}
}

func memPool(s mempool.Stats) MemPool {
	return MemPool{Name: s.Name, Owner: s.Owner, Active: s.Active, SizeofType: s.SizeofType,
		PaddedSizeof: s.PaddedSizeof, Size: s.Size, Hot: s.Hot, Cold: s.Cold, AllocCount: s.AllocCount,
		MaxAlloc: s.MaxAlloc, Misses: s.Misses, CurStdalloc: s.CurStdalloc, MaxStdalloc: s.MaxStdalloc,
		PutErrors: s.PutErrors, DoublePuts: s.DoublePuts, ForeignPuts: s.ForeignPuts, Prealloc: s.Prealloc}
}

// convKVs copies translator KVs, keeping JSON-friendly values and
// rendering the rest with fmt so that encoding can never fail.
func convKVs(kvs []xlator.KV) []KV {
	out := make([]KV, len(kvs))
	for i, kv := range kvs {
		out[i] = KV{Key: kv.Key, Value: plainValue(kv.Value)}
	}
	return out
}

func plainValue(v any) any {
	switch x := v.(type) {
	case nil:
		return ""
	case string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return x
	case float32, float64:
		return x
	case fmt.Stringer:
		return x.String()
	case error:
		return x.Error()
	}
	return fmt.Sprint(v)
}

func iobufOf(s iobuf.Stats, p *iobuf.Pool) *Iobuf {
	out := &Iobuf{Address: fmt.Sprintf("%p", p), DefaultPageSize: s.DefaultPageSize, ArenaSize: s.ArenaSize,
		ArenaCnt: s.ArenaCnt, RequestMisses: s.RequestMisses, MappedBytes: s.MappedBytes,
		StdallocActive: s.StdallocActive, StdallocBytes: s.StdallocBytes, IobrefActive: s.IobrefActive,
		RefUnderflows: s.RefUnderflows, UseAfterFree: s.UseAfterFree, Purged: s.Purged, Active: s.Active(),
		Classes: []IobufClass{}, Arenas: []IobufArena{}}
	n := 0
	for _, c := range s.Classes {
		out.Classes = append(out.Classes, IobufClass{PageSize: c.PageSize, NumPages: c.NumPages,
			ActiveCnt: c.ActiveCnt, PassiveCnt: c.PassiveCnt, AllocCnt: c.AllocCnt, MaxActive: c.MaxActive})
		for _, a := range c.Arenas {
			n++
			out.Arenas = append(out.Arenas, IobufArena{N: n, State: a.State, MemBase: fmt.Sprintf("%#x", a.MemBase),
				PageSize: a.PageSize, ActiveCnt: a.ActiveCnt, PassiveCnt: a.PassiveCnt, AllocCnt: a.AllocCnt,
				MaxActive: a.MaxActive})
		}
	}
	return out
}

func slabOf(s slab.Stats) Slab {
	return Slab{Name: s.Name, ObjectSize: s.ObjectSize, AlignedSize: s.AlignedSize, ObjectsPerSlab: s.ObjectsPerSlab,
		PagesPerSlab: s.PagesPerSlab, Slabs: s.Slabs, FullSlabs: s.FullSlabs, PartialSlabs: s.PartialSlabs,
		FreeSlabs: s.FreeSlabs, MappedBytes: s.MappedBytes, ActiveObjects: s.ActiveObjects,
		FrontObjects: s.FrontObjects, Allocs: s.Allocs, Frees: s.Frees, FrontHits: s.FrontHits,
		FrontMisses: s.FrontMisses, Grows: s.Grows, Reaped: s.Reaped, Errors: s.Errors, Corruptions: s.Corruptions}
}

type callSnap struct {
	n     int
	begun uint64
	calls []xlator.CallInfo
}

func (d *Dumper) callpoolOf(s callSnap, names []string) *Callpool {
	name := func(i int) string {
		if i >= 0 && i < len(names) {
			return names[i]
		}
		return "?"
	}
	cp := &Callpool{Count: s.n, Begun: s.begun, Stacks: []Stack{}}
	for _, c := range s.calls {
		st := Stack{Unique: c.Unique, Uid: c.Uid, Gid: c.Gid, Pid: c.Pid, Op: c.Fop.String(),
			AgeNs: int64(c.Age), Fork: c.Fork, Frames: []Frame{}}
		op := c.Fop.String()
		// c.Frames is outermost first; GlusterFS lists the newest frame
		// first, so the hop that has not returned leads.
		for j := len(c.Frames) - 1; j >= 0; j-- {
			f := c.Frames[j]
			fr := Frame{Translator: name(f.Xlator), Index: f.Xlator, WaitNs: int64(f.Wait),
				WindFrom: "graph." + op}
			fr.WindTo = fr.Translator + "." + op
			if j > 0 {
				fr.Parent = name(c.Frames[j-1].Xlator)
				fr.WindFrom = fr.Parent + "." + op
			}
			st.Frames = append(st.Frames, fr)
		}
		cp.Stacks = append(cp.Stacks, st)
	}
	return cp
}

type itableSnap struct {
	stats  xlator.TableStats
	active []xlator.InodeInfo
}

func itableOf(s itableSnap, names []string) *Itable {
	t := &Itable{Linked: s.stats.Linked, Active: s.stats.Active, LRU: s.stats.LRU, LRULimit: s.stats.LRULimit,
		Dentries: s.stats.Names, Created: s.stats.Created, Retired: s.stats.Retired, Errors: s.stats.Errors,
		Inodes: []ActiveInode{}}
	for _, in := range s.active {
		a := ActiveInode{Gfid: in.Gfid.String(), Path: in.Path, Type: iaType(in.Type), Nlookup: in.Nlookup,
			Ref: in.Refs, Ctx: []string{}}
		for _, i := range in.Ctx {
			if i >= 0 && i < len(names) {
				a.Ctx = append(a.Ctx, names[i])
			}
		}
		t.Inodes = append(t.Inodes, a)
	}
	return t
}

// iaType names S_IFMT bits as GlusterFS's ia_type does.
func iaType(mode uint32) string {
	switch mode & 0o170000 {
	case 0o100000:
		return "IA_IFREG"
	case 0o040000:
		return "IA_IFDIR"
	case 0o120000:
		return "IA_IFLNK"
	case 0o060000:
		return "IA_IFBLK"
	case 0o020000:
		return "IA_IFCHR"
	case 0o010000:
		return "IA_IFIFO"
	case 0o140000:
		return "IA_IFSOCK"
	}
	return "IA_INVAL"
}

// memSamples are the runtime/metrics read for Memstats.
var memSamples = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/gc/heap/objects:objects",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/total:bytes",
	"/gc/heap/allocs:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
	"/sched/goroutines:goroutines",
}

func readMemstats() *Memstats {
	s := make([]metrics.Sample, len(memSamples))
	for i, n := range memSamples {
		s[i].Name = n
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	return &Memstats{
		HeapAlloc:    v(0),
		HeapInuse:    v(0) + v(1),
		HeapIdle:     v(2) + v(3),
		HeapReleased: v(3),
		HeapObjects:  v(4),
		StackInuse:   v(5),
		Sys:          v(6),
		TotalAlloc:   v(7),
		NextGC:       v(8),
		NumGC:        v(9),
		Goroutines:   v(10),
	}
}

// memSources are the figures the memory summary sums, as collected (ok
// false: the source was busy).
type memSources struct {
	pools            []mempool.Stats
	iobuf            iobuf.Stats
	slabs            []slab.Stats
	poolsOK, iobufOK bool
	slabsOK          bool
}

// memoryOf makes the [memory] section from the process's status, the Go
// runtime's metrics and the allocators' figures.
func memoryOf(src memSources) *Memory {
	m := &Memory{}
	st := readProcStatus()
	m.RSS, m.RSSAnon, m.RSSFile, m.RSSShmem = st["VmRSS"], st["RssAnon"], st["RssFile"], st["RssShmem"]
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	for i, p := range []*int64{&m.GoMapped, &m.GoReleased} {
		if s[i].Value.Kind() == metrics.KindUint64 {
			*p = int64(s[i].Value.Uint64())
		}
	}
	m.GoHeld = m.GoMapped - m.GoReleased
	for _, p := range src.pools {
		m.Pools += (p.Prealloc + p.CurStdalloc) * p.PaddedSizeof
	}
	m.IobufMapped, m.IobufHeap = src.iobuf.MappedBytes, src.iobuf.StdallocBytes
	for _, sl := range src.slabs {
		m.SlabMapped += sl.MappedBytes
	}
	for _, miss := range []struct {
		ok   bool
		name string
	}{{src.poolsOK, "mempool"}, {src.iobufOK, "iobuf"}, {src.slabsOK, "slab"}} {
		if !miss.ok {
			m.Missing = append(m.Missing, miss.name)
		}
	}
	m.Accounted = m.GoHeld + m.IobufMapped + m.SlabMapped
	m.Unaccounted = m.RSSAnon + m.RSSShmem - m.Accounted
	return m
}

// readProcStatus returns the "kB" lines of /proc/self/status in bytes, by
// name (VmRSS, RssAnon, ...); none where it cannot be read.
func readProcStatus() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		f := strings.Fields(v)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	return out
}
