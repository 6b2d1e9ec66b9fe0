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
// a fop answers ENOSYS.
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

func (b *Base) first() (Xlator, error) {
	if len(b.children) == 0 {
		return nil, syscall.ENOSYS
	}
	return b.children[0], nil
}

// Lookup passes to the first child.
func (b *Base) Lookup(c *Call, loc *Loc) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Lookup(c, loc)
}

// Stat passes to the first child.
func (b *Base) Stat(c *Call, loc *Loc) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Stat(c, loc)
}

// Fstat passes to the first child.
func (b *Base) Fstat(c *Call, fd *FD) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Fstat(c, fd)
}

// Setattr passes to the first child.
func (b *Base) Setattr(c *Call, loc *Loc, in *SetattrIn) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Setattr(c, loc, in)
}

// Fsetattr passes to the first child.
func (b *Base) Fsetattr(c *Call, fd *FD, in *SetattrIn) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Fsetattr(c, fd, in)
}

// Access passes to the first child.
func (b *Base) Access(c *Call, loc *Loc, mask uint32) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Access(c, loc, mask)
}

// Readlink passes to the first child.
func (b *Base) Readlink(c *Call, loc *Loc) (string, error) {
	ch, err := b.first()
	if err != nil {
		return "", err
	}
	return ch.Readlink(c, loc)
}

// Mknod passes to the first child.
func (b *Base) Mknod(c *Call, loc *Loc, mode, rdev, umask uint32) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Mknod(c, loc, mode, rdev, umask)
}

// Mkdir passes to the first child.
func (b *Base) Mkdir(c *Call, loc *Loc, mode, umask uint32) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Mkdir(c, loc, mode, umask)
}

// Unlink passes to the first child.
func (b *Base) Unlink(c *Call, loc *Loc) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Unlink(c, loc)
}

// Rmdir passes to the first child.
func (b *Base) Rmdir(c *Call, loc *Loc) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Rmdir(c, loc)
}

// Symlink passes to the first child.
func (b *Base) Symlink(c *Call, target string, loc *Loc, umask uint32) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Symlink(c, target, loc, umask)
}

// Rename passes to the first child.
func (b *Base) Rename(c *Call, from, to *Loc, flags uint32) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Rename(c, from, to, flags)
}

// Link passes to the first child.
func (b *Base) Link(c *Call, from, to *Loc) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Link(c, from, to)
}

// Create passes to the first child.
func (b *Base) Create(c *Call, loc *Loc, flags uint32, mode, umask uint32, fd *FD) (Iatt, error) {
	ch, err := b.first()
	if err != nil {
		return Iatt{}, err
	}
	return ch.Create(c, loc, flags, mode, umask, fd)
}

// Open passes to the first child.
func (b *Base) Open(c *Call, loc *Loc, flags uint32, fd *FD) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Open(c, loc, flags, fd)
}

// Readv passes to the first child.
func (b *Base) Readv(c *Call, fd *FD, size int, off int64) (*iobuf.Iobref, error) {
	ch, err := b.first()
	if err != nil {
		return nil, err
	}
	return ch.Readv(c, fd, size, off)
}

// Writev passes to the first child.
func (b *Base) Writev(c *Call, fd *FD, data *iobuf.Iobref, off int64) (int, error) {
	ch, err := b.first()
	if err != nil {
		return 0, err
	}
	return ch.Writev(c, fd, data, off)
}

// Flush passes to the first child.
func (b *Base) Flush(c *Call, fd *FD) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Flush(c, fd)
}

// Fsync passes to the first child.
func (b *Base) Fsync(c *Call, fd *FD, datasync bool) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Fsync(c, fd, datasync)
}

// Opendir passes to the first child.
func (b *Base) Opendir(c *Call, loc *Loc, fd *FD) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Opendir(c, loc, fd)
}

// Readdir passes to the first child.
func (b *Base) Readdir(c *Call, fd *FD, off int64, count int, plus bool) ([]Dirent, error) {
	ch, err := b.first()
	if err != nil {
		return nil, err
	}
	return ch.Readdir(c, fd, off, count, plus)
}

// Fsyncdir passes to the first child.
func (b *Base) Fsyncdir(c *Call, fd *FD, datasync bool) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Fsyncdir(c, fd, datasync)
}

// Statfs passes to the first child.
func (b *Base) Statfs(c *Call, loc *Loc) (Statvfs, error) {
	ch, err := b.first()
	if err != nil {
		return Statvfs{}, err
	}
	return ch.Statfs(c, loc)
}

// Setxattr passes to the first child.
func (b *Base) Setxattr(c *Call, loc *Loc, name string, value []byte, flags uint32) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Setxattr(c, loc, name, value, flags)
}

// Getxattr passes to the first child.
func (b *Base) Getxattr(c *Call, loc *Loc, name string) ([]byte, error) {
	ch, err := b.first()
	if err != nil {
		return nil, err
	}
	return ch.Getxattr(c, loc, name)
}

// Listxattr passes to the first child.
func (b *Base) Listxattr(c *Call, loc *Loc) ([]string, error) {
	ch, err := b.first()
	if err != nil {
		return nil, err
	}
	return ch.Listxattr(c, loc)
}

// Removexattr passes to the first child.
func (b *Base) Removexattr(c *Call, loc *Loc, name string) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Removexattr(c, loc, name)
}

// Fallocate passes to the first child.
func (b *Base) Fallocate(c *Call, fd *FD, mode uint32, off, length int64) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Fallocate(c, fd, mode, off, length)
}

// Discard passes to the first child.
func (b *Base) Discard(c *Call, fd *FD, off, length int64) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Discard(c, fd, off, length)
}

// Zerofill passes to the first child.
func (b *Base) Zerofill(c *Call, fd *FD, off, length int64) error {
	ch, err := b.first()
	if err != nil {
		return err
	}
	return ch.Zerofill(c, fd, off, length)
}
