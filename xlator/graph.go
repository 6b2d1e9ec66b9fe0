package xlator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xstack/xstack/runtime/mempool"
)

// ErrNotUp is returned by Start when the top of the graph did not come up
// in time; the message lists the volumes that are not up.
var ErrNotUp = errors.New("xlator: graph did not come up")

// Graph is a running stack of translators built from a Spec. Front ends
// call fops on Top with a Call from Calls, make fds with NewFD and resolve
// names through Inodes.
type Graph struct {
	spec   *Spec
	env    *Env
	nodes  []*node // graph order: preorder from the top; node i has index i
	post   []*node // postorder: children before parents (Init order)
	byName map[string]*node
	inodes *Table
	calls  *CallPool
	log    *zap.Logger

	fdOpen    atomic.Int64
	fdCreated atomic.Uint64
	fdErrors  atomic.Int64
	fdPool    *mempool.Pool[FD]

	upcalls upcalls

	upMu    sync.Mutex
	up      bool
	upCh    chan struct{}
	started time.Time
	stopped bool
}

type node struct {
	spec   *VolumeSpec
	typ    *Type
	x      Xlator
	w      *wrapper
	inited bool
}

// New builds the translators of spec (constructing each from reg) and wires
// them, without initialising them; Init does that. env supplies the shared
// runtime; its Logger is the parent of every volume's logger.
func New(spec *Spec, reg *Registry, env *Env) (*Graph, error) {
	if env == nil || env.Logger == nil {
		return nil, errors.New("xlator: New needs an Env with a Logger")
	}
	g := &Graph{spec: spec, env: env, byName: map[string]*node{}, calls: NewCallPool(env.Pools),
		log: env.Logger.Named("graph"), upCh: make(chan struct{})}
	vols := map[string]*VolumeSpec{}
	for i := range spec.Volumes {
		vols[spec.Volumes[i].Name] = &spec.Volumes[i]
	}
	if _, ok := vols[spec.Top]; !ok {
		return nil, fmt.Errorf("xlator: top volume %q is not defined", spec.Top)
	}
	// Preorder numbers the translators; postorder orders Init.
	onPath := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		if n, ok := g.byName[name]; ok {
			if onPath[name] {
				return fmt.Errorf("xlator: volume %q is part of a cycle", name)
			}
			_ = n
			return nil
		}
		vs, ok := vols[name]
		if !ok {
			return fmt.Errorf("xlator: subvolume %q is not defined", name)
		}
		t, ok := reg.Lookup(vs.Type)
		if !ok {
			return fmt.Errorf("xlator: volume %q: unknown type %q", name, vs.Type)
		}
		n := &node{spec: vs, typ: t}
		g.byName[name] = n
		g.nodes = append(g.nodes, n)
		onPath[name] = true
		for _, c := range vs.Subvolumes {
			if err := visit(c); err != nil {
				return err
			}
		}
		onPath[name] = false
		g.post = append(g.post, n)
		return nil
	}
	if err := visit(spec.Top); err != nil {
		return nil, err
	}
	for i, n := range g.nodes {
		n.x = n.typ.New()
		if n.x == nil {
			return nil, fmt.Errorf("xlator: volume %q: type %q made no translator", n.spec.Name, n.typ.Name)
		}
		n.w = &wrapper{x: n.x, idx: i, stats: newFopStats()}
		b := n.x.base()
		b.name, b.typ, b.index, b.self = n.spec.Name, n.spec.Type, i, n.w
		b.env, b.graph = env, g
		b.transparent = n.typ.DataTransparent
		b.log = env.Logger.Named(n.spec.Name)
		if n.spec.LogLevelSet {
			b.log = volumeLogger(env.Logger, n.spec.Name, n.spec.LogLevel)
		}
	}
	for _, n := range g.nodes {
		b := n.x.base()
		for _, c := range n.spec.Subvolumes {
			cn := g.byName[c]
			b.children = append(b.children, cn.w)
			cn.x.base().parents = append(cn.x.base().parents, n.w)
		}
		b.up = make([]bool, len(b.children))
	}
	g.inodes = NewTable(len(g.nodes), 0, g.forget)
	// The itable's and fd table's pools, named as GlusterFS names them
	// after the volume that owns the table ("<top>:inode_t", "<top>:fd_t"):
	// the top's Fini releases them with its own, after Stop has forgotten
	// every inode.
	top := g.nodes[0].spec.Name
	g.inodes.UsePool(mempool.New[Inode](env.Pools, top, "inode_t", inodePoolSize))
	g.fdPool = mempool.New[FD](env.Pools, top, "fd_t", fdPoolSize)
	return g, nil
}

// inodePoolSize and fdPoolSize are how many inodes and fds a graph's pools
// preallocate: GlusterFS's fuse itable and fd pools start at 4096 and
// 1024; more come from the heap and go back to it when idle.
const (
	inodePoolSize = 4096
	fdPoolSize    = 1024
)

// volumeLogger names a logger after its volume and filters it at the
// level the volfile gives the volume, which may be lower or higher than
// the parent's.
func volumeLogger(parent *zap.Logger, name string, lvl zapcore.Level) *zap.Logger {
	return parent.Named(name).WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return levelCore{Core: c, lvl: lvl}
	}))
}

type levelCore struct {
	zapcore.Core
	lvl zapcore.Level
}

// Enabled filters at the volume's own level, whatever the parent's: a
// volume set to debug logs debug under an info parent, one set to error
// stays quiet under a debug parent.
func (l levelCore) Enabled(lv zapcore.Level) bool { return lv >= l.lvl }

func (l levelCore) With(f []zapcore.Field) zapcore.Core {
	return levelCore{Core: l.Core.With(f), lvl: l.lvl}
}

func (l levelCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !l.Enabled(e.Level) {
		return ce
	}
	return ce.AddCore(e, l.Core)
}

// Init initialises every translator, children before parents. If one
// fails, those already initialised are finalised (parents first) and the
// error names the volume and the reason.
func (g *Graph) Init() error {
	for _, n := range g.post {
		ic := &InitContext{Options: n.spec.Options, Logger: n.x.base().log, Env: g.env}
		err := safeInit(n.x, ic)
		if err != nil {
			g.finiInited()
			where := ""
			if n.spec.Pos != "" {
				where = " at " + n.spec.Pos
			}
			return fmt.Errorf("volume %q (type %s%s): %w", n.spec.Name, n.spec.Type, where, err)
		}
		n.inited = true
	}
	return nil
}

func safeInit(x Xlator, ic *InitContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("init panicked: %v", r)
		}
	}()
	return x.Init(ic)
}

func (g *Graph) finiInited() {
	for i := len(g.post) - 1; i >= 0; i-- {
		n := g.post[i]
		if n.inited {
			n.x.Fini()
			n.inited = false
			g.env.releaseOwner(n.spec.Name)
		}
	}
}

// Start sends parent-up down the graph and waits until the top reports
// child-up, or ctx ends; the error then lists the volumes that are not up.
func (g *Graph) Start(ctx context.Context) error {
	g.started = time.Now()
	g.nodes[0].w.Notify(EventParentUp, nil)
	select {
	case <-g.upCh:
		return nil
	case <-ctx.Done():
		var down []string
		for _, n := range g.nodes {
			if !n.x.base().IsUp() {
				down = append(down, n.spec.Name)
			}
		}
		return fmt.Errorf("%w: not up: %s (%v)", ErrNotUp, strings.Join(down, ", "), ctx.Err())
	}
}

// topNotify receives the top translator's child-up/child-down.
func (g *Graph) topNotify(ev Event) {
	g.upMu.Lock()
	defer g.upMu.Unlock()
	switch ev {
	case EventChildUp:
		if !g.up {
			g.up = true
			select {
			case <-g.upCh:
			default:
				close(g.upCh)
			}
		}
	case EventChildDown:
		g.up = false
		g.log.Warn("graph is down: the top volume reported child-down", zap.String("top", g.spec.Top))
	}
}

// IsUp reports whether the top of the graph is up.
func (g *Graph) IsUp() bool {
	g.upMu.Lock()
	defer g.upMu.Unlock()
	return g.up
}

// Stop sends parent-down, forgets every inode (Table.Close), and
// finalises every translator, parents first, releasing their pools. Stop
// is idempotent.
func (g *Graph) Stop() {
	g.upMu.Lock()
	if g.stopped {
		g.upMu.Unlock()
		return
	}
	g.stopped = true
	g.upMu.Unlock()
	g.nodes[0].w.Notify(EventParentDown, nil)
	g.inodes.Close()
	g.finiInited()
	g.calls.Close()
}

// Top returns the top translator, as front ends call it.
func (g *Graph) Top() Xlator { return g.nodes[0].w }

// Spec returns the spec the graph was built from.
func (g *Graph) Spec() *Spec { return g.spec }

// Env returns the graph's shared runtime.
func (g *Graph) Env() *Env { return g.env }

// Inodes returns the graph's inode table.
func (g *Graph) Inodes() *Table { return g.inodes }

// Calls returns the graph's call pool.
func (g *Graph) Calls() *CallPool { return g.calls }

// Started returns when Start was called.
func (g *Graph) Started() time.Time { return g.started }

// KeepsLocks reports whether a volume of the graph keeps locks (its type
// is KeepsLocks), so that Lk reaches a translator that answers it.
func (g *Graph) KeepsLocks() bool {
	for _, n := range g.nodes {
		if n.typ.KeepsLocks {
			return true
		}
	}
	return false
}

// OutOfProcess reports whether a volume of the graph serves its fops in
// another process (its type is SharedIobufs: a plugin), so that a fop may
// wait on that process for as long as its call-timeout.
func (g *Graph) OutOfProcess() bool {
	for _, n := range g.nodes {
		if n.typ.SharedIobufs {
			return true
		}
	}
	return false
}

// Len returns the number of translators.
func (g *Graph) Len() int { return len(g.nodes) }

// Xlator returns the translator of volume name, wrapped, or nil.
func (g *Graph) Xlator(name string) Xlator {
	if n, ok := g.byName[name]; ok {
		return n.w
	}
	return nil
}

// Unwrap returns the translator itself behind the graph's wrapper, for
// tests and for the statedump to reach a translator's own methods.
func Unwrap(x Xlator) Xlator {
	if w, ok := x.(*wrapper); ok {
		return w.x
	}
	return x
}

// Name returns a translator's volume name.
func Name(x Xlator) string { return x.base().name }

// XlatorInfo describes one translator of a running graph.
type XlatorInfo struct {
	Index    int
	Name     string
	Type     string
	Children []string
	Up       bool
	Stats    XlatorStats
	Private  []KV
}

// Xlators returns a snapshot of every translator in graph order: its
// identity, fop statistics and private state (Dump).
func (g *Graph) Xlators() []XlatorInfo {
	out := make([]XlatorInfo, len(g.nodes))
	for i, n := range g.nodes {
		b := n.x.base()
		out[i] = XlatorInfo{Index: i, Name: n.spec.Name, Type: n.spec.Type,
			Children: n.spec.Subvolumes, Up: b.IsUp(), Stats: n.w.Stats(), Private: n.w.Dump()}
	}
	return out
}

// XlatorName returns the volume name of translator index i.
func (g *Graph) XlatorName(i int) string {
	if i >= 0 && i < len(g.nodes) {
		return g.nodes[i].spec.Name
	}
	return "?"
}

// NewFD makes an fd for inode, holding one reference for the caller and
// a reference on the inode. dir marks a directory fd (Opendir).
func (g *Graph) NewFD(in *Inode, flags, pid uint32, dir bool) *FD {
	fd := g.fdPool.Get()
	// A pooled fd comes back as recycleFD left it, a new one all zero.
	fd.Inode, fd.Flags, fd.Pid, fd.graph, fd.dir = in.Ref(), flags, pid, g, dir
	if cap(fd.ctx) < len(g.nodes) {
		fd.ctx = make([]any, len(g.nodes))
	}
	fd.ctx = fd.ctx[:len(g.nodes)]
	fd.refs.Store(1)
	g.fdOpen.Add(1)
	g.fdCreated.Add(1)
	return fd
}

func (g *Graph) releaseFD(fd *FD) {
	for _, n := range g.nodes {
		if fd.dir {
			n.w.Releasedir(fd)
		} else {
			n.w.Release(fd)
		}
	}
	g.fdOpen.Add(-1)
}

// recycleFD gives a released fd back to the pool, its contexts cleared.
func (g *Graph) recycleFD(fd *FD) {
	fd.ctxMu.Lock()
	clear(fd.ctx)
	fd.ctxMu.Unlock()
	fd.Inode, fd.graph = nil, nil
	_ = g.fdPool.Put(fd) // refused only for an fd not from the pool: the GC takes it
}

func (g *Graph) forget(in *Inode) {
	for _, n := range g.nodes {
		n.w.Forget(in)
	}
}

// FDStats is a snapshot of the graph's fds.
type FDStats struct {
	Open    int64  `json:"open"`
	Created uint64 `json:"created"`
	Errors  int64  `json:"errors"`
}

// FDs returns the graph's fd counts.
func (g *Graph) FDs() FDStats {
	return FDStats{Open: g.fdOpen.Load(), Created: g.fdCreated.Load(), Errors: g.fdErrors.Load()}
}
