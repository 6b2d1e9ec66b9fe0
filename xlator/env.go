package xlator

import (
	"sort"
	"sync"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
)

// Env is the runtime a graph's translators share: the logger, the mem-pool
// registry (each translator makes its pools there, owned by its volume
// name), the iobuf pool and the slab caches. The statedump reads all of
// them, plus the sections other parts of the runtime (bio sets, front ends)
// register with AddSection. An Env may outlive its graph.
type Env struct {
	Logger *zap.Logger
	Pools  *mempool.Registry
	Iobufs *iobuf.Pool
	Slabs  *slab.Registry

	// ReadOnly asks the translators to change nothing in their storage:
	// posix refuses every fop that would change the brick with EROFS and
	// makes none of its own bookkeeping writes (gfid stamps, the health
	// file, the brick identity, the owner record). Read-only commands
	// (xstack check) set it.
	ReadOnly bool
	// NoCreate asks the translators not to create missing storage: posix
	// then needs its brick directory to exist whatever its
	// create-directory option says. The file commands set it, so that a
	// mistyped brick path is an error and not a new empty brick.
	NoCreate bool

	secMu    sync.Mutex
	sections map[string]func() []KV
}

// AddSection registers a statedump section: fn is called at dump time and
// must return a snapshot quickly, without blocking on locks held during IO
// (return a KV saying "unable to dump: busy" instead). Registering a name
// again replaces it. Names look like GlusterFS section names
// ("bio.brick0", "fuse").
func (e *Env) AddSection(name string, fn func() []KV) {
	e.secMu.Lock()
	defer e.secMu.Unlock()
	if e.sections == nil {
		e.sections = map[string]func() []KV{}
	}
	e.sections[name] = fn
}

// RemoveSection unregisters a section.
func (e *Env) RemoveSection(name string) {
	e.secMu.Lock()
	defer e.secMu.Unlock()
	delete(e.sections, name)
}

// Section is one registered section's snapshot.
type Section struct {
	Name string
	KVs  []KV
}

// Sections calls every registered section's function and returns the
// snapshots sorted by name. The registry lock is not held during the calls.
func (e *Env) Sections() []Section {
	e.secMu.Lock()
	names := make([]string, 0, len(e.sections))
	fns := make(map[string]func() []KV, len(e.sections))
	for k, fn := range e.sections {
		names = append(names, k)
		fns[k] = fn
	}
	e.secMu.Unlock()
	sort.Strings(names)
	out := make([]Section, 0, len(names))
	for _, n := range names {
		out = append(out, Section{Name: n, KVs: fns[n]()})
	}
	return out
}

// releaseOwner drops the pools a finalised volume still owns.
func (e *Env) releaseOwner(volume string) {
	if e.Pools != nil {
		e.Pools.Close(volume)
	}
}
