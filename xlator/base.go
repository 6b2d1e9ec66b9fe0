package xlator

import (
	"sync"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
)

// Base is embedded by every translator. It holds what the graph gives a
// translator (name, children, logger, runtime) and implements every fop by
// passing it to the first child unchanged, as GlusterFS's defaults do; a
// translator overrides only what it changes. A leaf that does not override
// a fop answers ENOSYS. CopyFileRange is the exception: it answers ENOSYS
// unless the type is DataTransparent, and the graph then copies through
// the translator's own Readv and Writev (copy.go).
//
// Base's accessors are safe for concurrent use once the graph has started.
type Base struct {
	name     string
	typ      string
	index    int
	self     Xlator   // this translator as the graph wraps it
	children []Xlator // wrapped children, in volfile order
	parents  []Xlator // wrapped parents
	log      *zap.Logger
	env      *Env
	graph    *Graph
	// transparent: the type is DataTransparent, so a copy may go to the
	// child (copy.go).
	transparent bool

	mu       sync.Mutex
	up       []bool // per child: has it said child-up?
	upSent   bool   // has this translator said child-up to its parents?
	parentUp bool
}

var _ Xlator = (*Base)(nil)

func (b *Base) base() *Base { return b }

// Name is the volume name from the volfile.
func (b *Base) Name() string { return b.name }

// TypeName is the xlator type from the volfile.
func (b *Base) TypeName() string { return b.typ }

// Index is the translator's position in the graph (0 is the top): the slot
// of its context on inodes and fds.
func (b *Base) Index() int { return b.index }

// Children returns the wrapped children in volfile order. The slice must
// not be modified.
func (b *Base) Children() []Xlator { return b.children }

// FirstChild returns the first child, or nil for a leaf.
func (b *Base) FirstChild() Xlator {
	if len(b.children) == 0 {
		return nil
	}
	return b.children[0]
}

// Self returns this translator as the graph wraps it: what its parents see.
func (b *Base) Self() Xlator { return b.self }

// Logger is the translator's zap logger, named after its volume.
func (b *Base) Logger() *zap.Logger { return b.log }

// Env is the shared runtime of the graph (pools, iobufs, slabs).
func (b *Base) Env() *Env { return b.env }

// Iobufs is the graph's iobuf pool.
func (b *Base) Iobufs() *iobuf.Pool { return b.env.Iobufs }

// Graph returns the graph the translator belongs to.
func (b *Base) Graph() *Graph { return b.graph }

// Init does nothing; translators override it.
func (b *Base) Init(*InitContext) error { return nil }

// Fini does nothing; translators override it.
func (b *Base) Fini() {}

// Dump reports nothing; translators override it.
func (b *Base) Dump() []KV { return nil }

// Release does nothing; translators that keep fd state override it.
func (b *Base) Release(*FD) {}

// Releasedir does nothing; translators that keep fd state override it.
func (b *Base) Releasedir(*FD) {}

// Forget does nothing; translators that keep inode state override it.
func (b *Base) Forget(*Inode) {}

// Notify implements GlusterFS's default_notify: parent-up and parent-down
// travel down to every child (a leaf answers parent-up with child-up);
// child-up travels up once every child is up, child-down as soon as one
// goes down. Translators that decide up-ness differently override Notify
// and call NotifyParents themselves.
func (b *Base) Notify(ev Event, from Xlator) {
	switch ev {
	case EventParentUp:
		b.mu.Lock()
		b.parentUp = true
		b.mu.Unlock()
		if len(b.children) == 0 {
			b.setUp(true)
			return
		}
		for _, c := range b.children {
			c.Notify(EventParentUp, b.self)
		}
	case EventParentDown:
		for _, c := range b.children {
			c.Notify(EventParentDown, b.self)
		}
	case EventChildUp, EventChildDown:
		b.mu.Lock()
		for i, c := range b.children {
			if c == from {
				b.up[i] = ev == EventChildUp
			}
		}
		all := true
		for _, u := range b.up {
			all = all && u
		}
		b.mu.Unlock()
		b.setUp(all)
	}
}

// setUp sends child-up or child-down to the parents when the state changes.
func (b *Base) setUp(up bool) {
	b.mu.Lock()
	changed := b.upSent != up
	b.upSent = up
	b.mu.Unlock()
	if !changed {
		return
	}
	if up {
		b.NotifyParents(EventChildUp)
	} else {
		b.NotifyParents(EventChildDown)
	}
}

// IsUp reports whether the translator has told its parents it is up.
func (b *Base) IsUp() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.upSent
}

// ChildUp reports whether child i has said child-up.
func (b *Base) ChildUp(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return i < len(b.up) && b.up[i]
}

// NotifyParents sends ev to every parent (to the graph for the top).
func (b *Base) NotifyParents(ev Event) {
	if len(b.parents) == 0 && b.graph != nil {
		b.graph.topNotify(ev)
		return
	}
	for _, p := range b.parents {
		p.Notify(ev, b.self)
	}
}

// first returns the child every fop passes to (base_fops.go, generated
// from the fop table).
func (b *Base) first() (Xlator, error) {
	if len(b.children) == 0 {
		return nil, syscall.ENOSYS
	}
	return b.children[0], nil
}
