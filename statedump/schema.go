package statedump

import "time"

// Version is the version of the dump's JSON schema and of the text
// layout. It grows when a key changes meaning or disappears; new keys may
// appear without a new version, so readers must ignore keys they do not
// know. Version 2: priv and a section's kvs are JSON objects (keys in
// their order) instead of lists of {key, value}; KVs reads both.
const Version = 2

// Dump is one collected statedump: the snapshot both renderings are made
// from, and the JSON schema. Sections of parts that were not selected are
// absent (nil or empty). A section whose collection would have blocked is
// absent too and listed in Skipped, by its text section name.
//
// JSON keys, top level:
//
//	version            int      Version
//	dump_start_time    string   RFC 3339, when collection began
//	dump_end_time      string   RFC 3339, when collection ended
//	parts              []string the parts dumped (mem, iobuf, slab, bio, callpool, priv, fd, inode, fops)
//	process            object   Process: pid, name, volfile, start_time, uptime_sec, go_version, gomaxprocs
//	go_memstats        object   Memstats (part mem)
//	memory             object   Memory: where the process's memory is, summed (part mem)
//	xlators            []object Xlator, in graph order (the top first)
//	other_pools        []object MemPool: pools whose owner is not a volume of the graph (part mem)
//	iobuf              object   Iobuf (part iobuf)
//	slabs              []object Slab (part slab)
//	sections           []object Section: sections registered with Env.AddSection (parts bio and priv)
//	callpool           object   Callpool (part callpool)
//	itable             object   Itable (part inode)
//	fdtable            object   FDTable (part fd)
//	unable_to_dump     []object Skipped: sections not dumped, with the text section name and why ("busy")
//
// Each type below documents its own keys.
type Dump struct {
	Version    int       `json:"version"`
	StartTime  time.Time `json:"dump_start_time"`
	EndTime    time.Time `json:"dump_end_time"`
	Parts      []string  `json:"parts"`
	Process    Process   `json:"process"`
	Memstats   *Memstats `json:"go_memstats,omitempty"`
	Memory     *Memory   `json:"memory,omitempty"`
	Xlators    []Xlator  `json:"xlators"`
	OtherPools []MemPool `json:"other_pools,omitempty"`
	Iobuf      *Iobuf    `json:"iobuf,omitempty"`
	Slabs      []Slab    `json:"slabs,omitempty"`
	Sections   []Section `json:"sections,omitempty"`
	Callpool   *Callpool `json:"callpool,omitempty"`
	Itable     *Itable   `json:"itable,omitempty"`
	FDTable    *FDTable  `json:"fdtable,omitempty"`
	Skipped    []Skipped `json:"unable_to_dump,omitempty"`
}

// Skipped is a section that was not dumped: Reason is "busy" when its
// collection did not finish within Options.Budget (a lock was held), or
// the panic its collection raised. The text form prints the section with
// the line "unable to dump: <reason>".
type Skipped struct {
	Section string `json:"section"`
	Reason  string `json:"reason"`
}

// Process identifies the dumped process and its stack ([xstack] in text).
type Process struct {
	Pid        int       `json:"pid"`
	Name       string    `json:"name"`    // the top volume's name; the dump file is named after it
	Volfile    string    `json:"volfile"` // path of the volfile, or "<embedded default>"
	StartTime  time.Time `json:"start_time"`
	UptimeSec  float64   `json:"uptime_sec"`
	GoVersion  string    `json:"go_version"`
	GOMAXPROCS int       `json:"gomaxprocs"`
}

// Memstats is the Go runtime's memory, the role mallinfo plays in a
// GlusterFS statedump ([go.memstats] in text). The names follow
// runtime.MemStats, but the figures are read with runtime/metrics, which
// does not stop the world as runtime.ReadMemStats does.
type Memstats struct {
	HeapAlloc    uint64 `json:"heap_alloc"`    // bytes of heap objects (live and not yet swept)
	HeapInuse    uint64 `json:"heap_inuse"`    // bytes in in-use heap spans
	HeapIdle     uint64 `json:"heap_idle"`     // bytes in idle heap spans, released or not
	HeapReleased uint64 `json:"heap_released"` // bytes of idle spans returned to the OS
	HeapObjects  uint64 `json:"heap_objects"`
	StackInuse   uint64 `json:"stack_inuse"`
	Sys          uint64 `json:"sys"`         // bytes mapped from the OS by the Go runtime
	TotalAlloc   uint64 `json:"total_alloc"` // cumulative bytes allocated on the heap
	NextGC       uint64 `json:"next_gc"`     // heap goal of the next cycle
	NumGC        uint64 `json:"num_gc"`
	Goroutines   uint64 `json:"goroutines"`
}

// Memory says where the process's memory is ([memory] in text, part
// mem): the resident set from the kernel beside what the runtime and the
// stack's allocators hold, and what is left unexplained. GlusterFS users
// saw 900 MB in a statedump against 29 GB RSS (glusterfs#1304) with no
// way to tell where the rest was.
//
// RSS is the kernel's VmRSS, split as it splits it: anonymous memory
// (the Go heap, stacks, mmap'd arenas and slabs), file pages (the
// binary's code and data) and shared memory (memfds: a Shared iobuf pool
// that plugins map, plugin call arenas). Accounted sums what the process
// knows it holds in anonymous and shared memory: the Go runtime's
// mappings minus what it returned to the OS, and the iobuf arenas and
// slabs, which live outside the Go heap. Unaccounted is RSSAnon +
// RSSShmem - Accounted: positive for memory nobody here knows of (cgo, a
// plugin arena's pages), negative for mapped memory not yet touched.
// Pools and IobufHeap are in the Go heap, so inside GoHeld: shown for
// where the heap goes, not added again.
type Memory struct {
	RSS         int64    `json:"rss"`               // VmRSS
	RSSAnon     int64    `json:"rss_anon"`          // RssAnon
	RSSFile     int64    `json:"rss_file"`          // RssFile: the binary and mapped files
	RSSShmem    int64    `json:"rss_shmem"`         // RssShmem: memfds, shared memory
	GoMapped    int64    `json:"go_mapped"`         // bytes the Go runtime mapped
	GoReleased  int64    `json:"go_released"`       // of those, returned to the OS
	GoHeld      int64    `json:"go_held"`           // GoMapped - GoReleased
	Pools       int64    `json:"pools"`             // mem-pools' objects, preallocated and from the heap (in GoHeld)
	IobufMapped int64    `json:"iobuf_mapped"`      // iobuf arenas (mmap, outside the Go heap)
	IobufHeap   int64    `json:"iobuf_heap"`        // iobufs from the Go heap (in GoHeld)
	SlabMapped  int64    `json:"slab_mapped"`       // slab caches (mmap, outside the Go heap)
	Accounted   int64    `json:"accounted"`         // GoHeld + IobufMapped + SlabMapped
	Unaccounted int64    `json:"unaccounted"`       // RSSAnon + RSSShmem - Accounted
	Missing     []string `json:"missing,omitempty"` // sources not read (busy), their figures 0
}

// Xlator is one translator of the graph ([xlator.<volume>] in text, then
// its pools, private state and fop statistics).
type Xlator struct {
	Index    int       `json:"index"` // graph order, 0 is the top; the slot of its inode and fd context
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Children []string  `json:"children"`
	Up       bool      `json:"up"`
	MemPools []MemPool `json:"mempools,omitempty"` // part mem: the pools it owns, by name
	Priv     KVs       `json:"priv,omitempty"`     // part priv: its Dump()
	Fops     []Fop     `json:"fops,omitempty"`     // part fops: the fops it served, in fop order
}

// MemPool is one mem-pool ([<owner>.mempool.<what>] in text), with the
// keys GlusterFS statedumps use.
type MemPool struct {
	Name         string `json:"pool-name"`   // "owner:what"
	Owner        string `json:"xlator-name"` // the owning volume
	Active       int64  `json:"active-count"`
	SizeofType   int64  `json:"sizeof-type"`
	PaddedSizeof int64  `json:"padded-sizeof"`
	Size         int64  `json:"size"`
	Hot          int64  `json:"hot-count"`
	Cold         int64  `json:"cold-count"`
	AllocCount   int64  `json:"alloc-count"`
	MaxAlloc     int64  `json:"max-alloc"`
	Misses       int64  `json:"pool-misses"`
	CurStdalloc  int64  `json:"cur-stdalloc"`
	MaxStdalloc  int64  `json:"max-stdalloc"`
	PutErrors    int64  `json:"put-errors"`
	DoublePuts   int64  `json:"double-puts"`
	ForeignPuts  int64  `json:"foreign-puts"`
	Prealloc     int64  `json:"prealloc-count"`
}

// KV is one key and value of a translator's private state or of a
// registered section, in the order they were given. Value is a JSON
// number, bool or string: other Go types are rendered with fmt.
type KV struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// Fop is one fop's statistics in one translator, as io-stats keeps them
// ([<type>.<volume>.fops] in text, keys fop.<FOP>.*).
type Fop struct {
	Fop    string `json:"fop"` // GlusterFS's name: LOOKUP, READ, WRITE …
	Count  uint64 `json:"count"`
	Errors uint64 `json:"fail_count"`
	Bytes  uint64 `json:"bytes"`
	MinNs  int64  `json:"latency_min_ns"`
	MeanNs int64  `json:"latency_ave_ns"`
	MaxNs  int64  `json:"latency_max_ns"`
	SumNs  int64  `json:"latency_sum_ns"` // all Count latencies added up
	// Histogram[i] counts the fops that took [2^i, 2^(i+1)) ns; the last
	// bucket counts everything slower. Always HistBuckets long in JSON.
	Histogram []uint64 `json:"histogram"`
	// Buckets are the non-empty buckets of Histogram with their bounds,
	// for readers that should not need to know the bucket layout:
	// {"ge_ns": 1024, "lt_ns": 2048, "count": 3}, no lt_ns on the last,
	// unbounded bucket. Their counts add up to Count.
	Buckets []Bucket `json:"buckets"`
}

// Iobuf is the iobuf pool ([iobuf.global], [iobuf.class.<page_size>] and
// one [<state>.<n>] per arena in text, as GlusterFS prints them).
type Iobuf struct {
	Address         string       `json:"iobuf_pool"`
	DefaultPageSize int          `json:"default_page_size"`
	ArenaSize       int64        `json:"arena_size"`
	ArenaCnt        int          `json:"arena_cnt"`
	RequestMisses   uint64       `json:"request_misses"`
	MappedBytes     int64        `json:"mapped_bytes"`
	StdallocActive  int64        `json:"stdalloc_active"`
	StdallocBytes   int64        `json:"stdalloc_bytes"`
	IobrefActive    int64        `json:"iobref_active"`
	RefUnderflows   uint64       `json:"ref_underflows"`
	UseAfterFree    uint64       `json:"use_after_free"`
	Purged          uint64       `json:"purged_arenas"`
	Active          int64        `json:"active"` // iobufs held by callers, all classes and stdalloc: 0 when idle
	Classes         []IobufClass `json:"classes"`
	// Arenas of every class, numbered from 1 across the pool as GlusterFS
	// numbers them.
	Arenas []IobufArena `json:"arenas"`
}

// IobufClass is one page-size class of the iobuf pool.
type IobufClass struct {
	PageSize   int    `json:"page_size"`
	NumPages   int    `json:"num_pages"`
	ActiveCnt  int64  `json:"active_cnt"`
	PassiveCnt int64  `json:"passive_cnt"`
	AllocCnt   uint64 `json:"alloc_cnt"`
	MaxActive  int64  `json:"max_active"`
}

// IobufArena is one mapped arena; State is arena, filled or purge, and
// names its text section ([arena.3]).
type IobufArena struct {
	N          int    `json:"n"`
	State      string `json:"state"`
	MemBase    string `json:"mem_base"`
	PageSize   int    `json:"page_size"`
	ActiveCnt  int64  `json:"active_cnt"`
	PassiveCnt int64  `json:"passive_cnt"`
	AllocCnt   uint64 `json:"alloc_cnt"`
	MaxActive  int64  `json:"max_active"`
}

// Slab is one slab cache ([slab.<name>] in text).
type Slab struct {
	Name           string `json:"name"`
	ObjectSize     int    `json:"object_size"`
	AlignedSize    int    `json:"aligned_size"`
	ObjectsPerSlab int    `json:"objects_per_slab"`
	PagesPerSlab   int    `json:"pages_per_slab"`
	Slabs          int    `json:"slabs"`
	FullSlabs      int    `json:"full_slabs"`
	PartialSlabs   int    `json:"partial_slabs"`
	FreeSlabs      int    `json:"free_slabs"`
	MappedBytes    int64  `json:"mapped_bytes"`
	ActiveObjects  int64  `json:"active_objects"`
	FrontObjects   int    `json:"front_objects"`
	Allocs         uint64 `json:"allocs"`
	Frees          uint64 `json:"frees"`
	FrontHits      uint64 `json:"front_hits"`
	FrontMisses    uint64 `json:"front_misses"`
	Grows          uint64 `json:"grows"`
	Reaped         uint64 `json:"reaped"`
	Errors         uint64 `json:"errors"`
	Corruptions    uint64 `json:"corruptions"`
}

// Section is a section registered with xlator.Env.AddSection (bio sets,
// the FUSE front end); its text section is [<name>].
type Section struct {
	Name string `json:"name"`
	KVs  KVs    `json:"kvs"`
}

// Callpool lists the calls in flight ([global.callpool] in text).
type Callpool struct {
	Count  int     `json:"callpool.cnt"`   // calls in flight, forks included
	Begun  uint64  `json:"callpool.begun"` // calls ever begun
	Stacks []Stack `json:"stacks"`
}

// Stack is one call in flight ([global.callpool.stack.<n>] in text).
type Stack struct {
	Unique uint64  `json:"unique"`
	Uid    uint32  `json:"uid"`
	Gid    uint32  `json:"gid"`
	Pid    uint32  `json:"pid"`
	Op     string  `json:"op"`
	AgeNs  int64   `json:"age_ns"`
	Fork   bool    `json:"fork"` // a parallel branch of another call
	Frames []Frame `json:"frames"`
}

// Frame is one hop of a call in flight ([global.callpool.stack.<n>.frame.<m>]
// in text). Frames are listed innermost first, as GlusterFS lists them: the
// first frame is the translator the call has not returned from.
type Frame struct {
	Translator string `json:"translator"`
	Index      int    `json:"index"`     // the translator's graph index
	Parent     string `json:"parent"`    // the translator that wound the call here; "" for the top
	WindFrom   string `json:"wind_from"` // the parent and the fop: "l0.READ" ("graph.READ" for the top)
	WindTo     string `json:"wind_to"`   // this translator and the fop: "l1.READ"
	Complete   bool   `json:"complete"`  // always false: completed hops are not listed
	WaitNs     int64  `json:"wait_ns"`   // how long the call has been inside this translator
}

// Itable is the graph's inode table ([xlator.itable] in text, with one
// [xlator.itable.active.<n>] per active inode listed).
type Itable struct {
	Linked   int           `json:"linked"`
	Active   int           `json:"active_size"`
	LRU      int           `json:"lru_size"`
	LRULimit int           `json:"lru_limit"`
	Dentries int           `json:"dentries"`
	Created  uint64        `json:"created"`
	Retired  uint64        `json:"retired"`
	Errors   int64         `json:"errors"`
	Inodes   []ActiveInode `json:"active"` // at most Options.MaxInodes
}

// ActiveInode is one inode with references.
type ActiveInode struct {
	Gfid    string   `json:"gfid"`
	Path    string   `json:"path"`
	Type    string   `json:"ia_type"` // GlusterFS's IA_IFREG, IA_IFDIR …
	Nlookup uint64   `json:"nlookup"`
	Ref     int64    `json:"ref"`
	Ctx     []string `json:"ctx"` // volumes holding context on the inode
}

// FDTable is the graph's fd counts ([xlator.fdtable] in text).
type FDTable struct {
	Open    int64  `json:"openfds"`
	Created uint64 `json:"created"`
	Errors  int64  `json:"ref_errors"` // Unrefs past zero: a bug
}

// Xlator returns the translator of volume name, or nil.
func (d *Dump) Xlator(name string) *Xlator {
	for i := range d.Xlators {
		if d.Xlators[i].Name == name {
			return &d.Xlators[i]
		}
	}
	return nil
}

// Pool returns the translator's pool named "owner:what" or just "what",
// or nil.
func (x *Xlator) Pool(name string) *MemPool {
	for i := range x.MemPools {
		p := &x.MemPools[i]
		if p.Name == name || p.Name == x.Name+":"+name {
			return p
		}
	}
	return nil
}

// Fop returns the statistics of the fop named as GlusterFS names it
// ("WRITE"), or nil if the translator never served it.
func (x *Xlator) Fop(name string) *Fop {
	for i := range x.Fops {
		if x.Fops[i].Fop == name {
			return &x.Fops[i]
		}
	}
	return nil
}

// Section returns the registered section name, or nil.
func (d *Dump) Section(name string) *Section {
	for i := range d.Sections {
		if d.Sections[i].Name == name {
			return &d.Sections[i]
		}
	}
	return nil
}
