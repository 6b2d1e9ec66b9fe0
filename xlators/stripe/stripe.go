package stripe

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/xlator"
)

// XattrKey is the extended attribute that holds a file's Geometry on every
// child file. When a child refuses trusted.* (posix running unprivileged)
// stripe uses XattrKeyUser instead, and reads either.
const (
	XattrKey     = "trusted.xstack.stripe"
	XattrKeyUser = "user.xstack.stripe"
)

var xattrKeys = [2]string{XattrKey, XattrKeyUser}

// isGeometryKey reports whether name is one of stripe's own xattrs, which
// clients can neither read, list, set nor remove.
func isGeometryKey(name string) bool { return name == XattrKey || name == XattrKeyUser }

// Stripe is the stripe translator: it spreads each regular file's data
// over its children in blocks (see Geometry), and keeps the namespace
// (directories, names, attributes, xattrs) identical on every child, with
// one gfid per file across all of them. It is safe for concurrent use.
type Stripe struct {
	xlator.Base

	def      Geometry // geometry of new files unless a pattern matches
	patterns []xlator.Pattern
	up       []atomic.Bool // per child, from child-up / child-down
	locals   *mempool.Pool[local]
	xkey     atomic.Int32 // index into xattrKeys the children accept
	names    *nameLocks   // entry fops against lookups (names.go)

	reads, writes, pieces, holeBytes, sizeProbes atomic.Uint64
	rollbacks, divergences, inconsistent         atomic.Uint64
	copyChild, copyRW                            atomic.Uint64 // copy.go
}

var _ xlator.Xlator = (*Stripe)(nil)

// inodeCtx is stripe's state on a regular file's inode: its geometry,
// immutable once set, and the lock that makes O_APPEND writes atomic
// (the children never see O_APPEND: stripe finds the end itself).
type inodeCtx struct {
	geo      Geometry
	appendMu sync.Mutex
}

// checkBlockSize applies the option rules to a block size.
func checkBlockSize(n int64) error {
	switch {
	case n < MinBlockSize:
		return fmt.Errorf("%s is below the minimum of %s; use at least 16KiB, e.g. 128KiB",
			xlator.FormatSize(n), xlator.FormatSize(MinBlockSize))
	case n > MaxBlockSize:
		return fmt.Errorf("%s is above the maximum of %s", xlator.FormatSize(n), xlator.FormatSize(MaxBlockSize))
	case n%512 != 0:
		return fmt.Errorf("%s is not a multiple of 512 bytes; use e.g. 128KiB", xlator.FormatSize(n))
	}
	return nil
}

// Init reads and checks the options and makes the per-call pool.
func (s *Stripe) Init(ic *xlator.InitContext) error {
	n := len(s.Children())
	if n < 2 {
		return fmt.Errorf("stripe needs at least 2 subvolumes, has %d", n)
	}
	bs := int64(DefaultBlockSize)
	if v, ok := ic.Options.Get("block-size"); ok {
		bs = v.Int
	}
	if err := checkBlockSize(bs); err != nil {
		return fmt.Errorf("option block-size: %w", err)
	}
	s.patterns = ic.Options.Patterns("block-size-pattern")
	for _, p := range s.patterns {
		if _, err := filepath.Match(p.Glob, ""); err != nil {
			return fmt.Errorf("option block-size-pattern: %q is not a valid glob: %w", p.Glob, err)
		}
		if err := checkBlockSize(p.Value); err != nil {
			return fmt.Errorf("option block-size-pattern: %q: %w", p.Glob, err)
		}
	}
	s.def = Geometry{BlockSize: bs, Count: n, Coalesce: ic.Options.Bool("coalesce")}
	s.up = make([]atomic.Bool, n)
	s.names = newNameLocks()
	s.locals = mempool.New[local](ic.Env.Pools, s.Name(), "stripe-local", 64)
	return nil
}

// Notify tracks which children are up, then behaves as Base: child-up
// goes up once every child is up, child-down as soon as one goes down,
// since a file needs all of its children.
func (s *Stripe) Notify(ev xlator.Event, from xlator.Xlator) {
	if ev == xlator.EventChildUp || ev == xlator.EventChildDown {
		for i, ch := range s.Children() {
			if ch == from {
				s.up[i].Store(ev == xlator.EventChildUp)
			}
		}
	}
	s.Base.Notify(ev, from)
}

// Forget drops stripe's state on an inode.
func (s *Stripe) Forget(in *xlator.Inode) { in.DelCtx(s) }

// newGeometry returns the geometry of a new file named name: the first
// matching block-size-pattern's block size, else block-size.
func (s *Stripe) newGeometry(name string) Geometry {
	g := s.def
	for _, p := range s.patterns {
		if p.Match(filepath.Base(name)) {
			g.BlockSize = p.Value
			break
		}
	}
	return g
}

// allUp returns ENOTCONN unless every child is up.
func (s *Stripe) allUp() error {
	for i := range s.up {
		if !s.up[i].Load() {
			return syscall.ENOTCONN
		}
	}
	return nil
}

// childUp returns ENOTCONN unless child i is up.
func (s *Stripe) childUp(i int) error {
	if !s.up[i].Load() {
		return syscall.ENOTCONN
	}
	return nil
}

// fanout runs work(c, j) for every j in [0, n) and returns when all have
// returned: job 0 on the caller's goroutine with c itself (the caller is
// waiting anyway), each other job on its own goroutine with its own Fork
// of c, since a Call belongs to one goroutine at a time.
func fanout(c *xlator.Call, n int, work func(c *xlator.Call, j int)) {
	if n <= 0 {
		return
	}
	var wg sync.WaitGroup
	wg.Add(n - 1)
	for j := 1; j < n; j++ {
		f := c.Fork()
		go func() {
			defer wg.Done()
			defer f.Done()
			work(f, j)
		}()
	}
	work(c, 0)
	wg.Wait()
}

// each runs fn on every child in parallel.
func (s *Stripe) each(c *xlator.Call, fn func(c *xlator.Call, i int, ch xlator.Xlator)) {
	ch := s.Children()
	fanout(c, len(ch), func(c *xlator.Call, j int) { fn(c, j, ch[j]) })
}

// local is the per-call scratch state of a fop, from the "stripe-local"
// pool: its slices keep their capacity from one call to the next.
type local struct {
	pieces  []Piece
	runs    []Run
	workers []int           // children with runs, in order of first run
	refs    []*iobuf.Iobref // per run
	ns      []int           // per run: bytes written
	errs    []error         // per run, or per child
	iatts   []xlator.Iatt   // per child
	made    []bool          // per child: the entry was created there
	curs    []cursor        // per run: where readv is in the child's reply
}

// maxKept bounds the slices a pooled local keeps (a huge read must not pin
// its scratch in the pool).
const maxKept = 1024

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func keep[T any](s []T) []T {
	if cap(s) > maxKept {
		return nil
	}
	clear(s[:cap(s)])
	return s[:0]
}

func (s *Stripe) getLocal(children int) *local {
	l := s.locals.Get()
	l.pieces, l.runs, l.workers = l.pieces[:0], l.runs[:0], l.workers[:0]
	l.errs = grow(l.errs, children)
	l.iatts = grow(l.iatts, children)
	l.made = grow(l.made, children)
	return l
}

func (s *Stripe) putLocal(l *local) {
	l.pieces, l.runs, l.workers = keep(l.pieces), keep(l.runs), keep(l.workers)
	l.refs, l.ns, l.errs = keep(l.refs), keep(l.ns), keep(l.errs)
	l.iatts, l.made, l.curs = keep(l.iatts), keep(l.made), keep(l.curs)
	_ = s.locals.Put(l)
}

// firstErr returns the first non-nil error.
func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// describe renders per-child results for a log line: the children that
// succeeded and those that failed, with their errors.
func (s *Stripe) describe(errs []error, skip []bool) (ok, failed []string) {
	for i, ch := range s.Children() {
		if i >= len(errs) || (skip != nil && skip[i]) {
			continue
		}
		if errs[i] == nil {
			ok = append(ok, xlator.Name(ch))
		} else {
			failed = append(failed, xlator.Name(ch)+": "+errs[i].Error())
		}
	}
	return ok, failed
}

// diverged logs that a fop left the children in different states, naming
// them, and counts it. skip marks children the fop did not go to.
func (s *Stripe) diverged(op xlator.Fop, path, what string, errs []error, skip []bool) {
	s.divergences.Add(1)
	ok, failed := s.describe(errs, skip)
	s.Logger().Error("children diverged: "+what, zap.Stringer("fop", op), zap.String("path", path),
		zap.Strings("ok", ok), zap.Strings("failed", failed))
}

// settle turns the children's errors of a fop that went to all of them
// into one: nil when all succeeded, else the first error; when some
// succeeded and others failed, the children now differ, which is logged.
func (s *Stripe) settle(op xlator.Fop, path func() string, errs []error) error {
	first := firstErr(errs)
	if first == nil {
		return nil
	}
	for _, e := range errs {
		if e == nil {
			s.diverged(op, path(), "the fop succeeded on some children only", errs, nil)
			break
		}
	}
	return first
}

// ctxOf returns stripe's context on in, or nil.
func (s *Stripe) ctxOf(in *xlator.Inode) *inodeCtx {
	if in == nil {
		return nil
	}
	x, _ := in.Ctx(s).(*inodeCtx)
	return x
}

// inode returns stripe's context of loc's regular file, loading its
// geometry from every child when the inode has none yet. A layout
// problem is looked at again under the name's lock (see names.go), then
// reported, and fails the fop with EIO. With no inode in loc the context
// is not kept.
func (s *Stripe) inode(c *xlator.Call, loc *xlator.Loc) (*inodeCtx, error) {
	if x := s.ctxOf(loc.Inode); x != nil {
		return x, nil
	}
	g, p, err := s.loadGeometry(c, loc)
	if p != nil {
		if unlock := s.names.rlock(loc); unlock != nil {
			g, p, err = s.loadGeometry(c, loc)
			unlock()
		}
	}
	return s.keep(c, loc, g, p, err)
}

// inodeHeld is inode for an entry fop that holds loc's name lock: no other
// entry fop of this stack can be changing the name, so a problem is
// reported at once.
func (s *Stripe) inodeHeld(c *xlator.Call, loc *xlator.Loc) (*inodeCtx, error) {
	if x := s.ctxOf(loc.Inode); x != nil {
		return x, nil
	}
	g, p, err := s.loadGeometry(c, loc)
	return s.keep(c, loc, g, p, err)
}

// keep turns the outcome of loadGeometry into an inode context, kept in
// loc.Inode when there is one.
func (s *Stripe) keep(c *xlator.Call, loc *xlator.Loc, g Geometry, p *Problem, err error) (*inodeCtx, error) {
	if p != nil {
		s.report(c, p)
		return nil, syscall.EIO
	}
	if err != nil {
		return nil, err
	}
	if in := loc.Inode; in != nil {
		if x, ok := in.CtxOrSet(s, func() any { return &inodeCtx{geo: g} }).(*inodeCtx); ok {
			return x, nil
		}
	}
	return &inodeCtx{geo: g}, nil
}

// inodeOf is inode for an open file.
func (s *Stripe) inodeOf(c *xlator.Call, in *xlator.Inode) (*inodeCtx, error) {
	if x := s.ctxOf(in); x != nil {
		return x, nil
	}
	return s.inode(c, &xlator.Loc{Inode: in})
}

// loadGeometry reads a regular file's geometry xattr from every child and
// judges the answers (judgeGeometry): the geometry they all hold, or the
// problem. It never writes: a file without a geometry is not given one,
// since any guess (the volume's default block size) reads data written
// with another layout as scrambled bytes.
func (s *Stripe) loadGeometry(c *xlator.Call, loc *xlator.Loc) (Geometry, *Problem, error) {
	if err := s.allUp(); err != nil {
		return Geometry{}, nil, err
	}
	ans := make([]geoAnswer, len(s.Children()))
	s.each(c, func(c *xlator.Call, i int, ch xlator.Xlator) { ans[i] = s.getGeometry(c, ch, loc) })
	return s.judgeGeometry(loc.Path, ans)
}

// getGeometry reads the geometry xattr of loc from ch, under the key the
// children accept first, then under the other (a brick written by a
// privileged stack and read by an unprivileged one, or the reverse).
func (s *Stripe) getGeometry(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc) geoAnswer {
	k := s.xkey.Load()
	v, err := ch.Getxattr(c, loc, xattrKeys[k])
	if errors.Is(err, syscall.ENODATA) {
		k = 1 - k
		v, err = ch.Getxattr(c, loc, xattrKeys[k])
	}
	return geoAnswer{key: xattrKeys[k], val: v, err: err}
}

// setGeometry stores g in loc's xattr on ch, falling back to the user.*
// key for good when a child refuses trusted.* (an unprivileged brick).
func (s *Stripe) setGeometry(c *xlator.Call, ch xlator.Xlator, loc *xlator.Loc, g Geometry, flags uint32) error {
	k := s.xkey.Load()
	v := g.Encode()
	err := ch.Setxattr(c, loc, xattrKeys[k], v, flags)
	if k == 0 && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EOPNOTSUPP)) {
		if err = ch.Setxattr(c, loc, xattrKeys[1], v, flags); err == nil && s.xkey.CompareAndSwap(0, 1) {
			s.Logger().Info("children refuse trusted.* xattrs: keeping file geometry in " + XattrKeyUser)
		}
	}
	return err
}

// later returns the later of two times.
func later(a, b xlator.Timespec) xlator.Timespec {
	if b.Sec > a.Sec || b.Sec == a.Sec && b.Nsec > a.Nsec {
		return b
	}
	return a
}

// fileAttr merges the children's attributes of one regular file: the
// first child's identity, mode and owner, the logical size from the
// geometry, the blocks of all children, and the latest of each time (a
// write touches only the children it lands on).
func fileAttr(g Geometry, ias []xlator.Iatt) xlator.Iatt {
	a := ias[0]
	a.Size, a.Blocks = 0, 0
	for i := range ias {
		x := &ias[i]
		if x.Size > 0 && i < g.Count {
			a.Size = max(a.Size, g.FileOffset(i, x.Size-1)+1)
		}
		a.Blocks += x.Blocks
		a.Atime, a.Mtime, a.Ctime = later(a.Atime, x.Atime), later(a.Mtime, x.Mtime), later(a.Ctime, x.Ctime)
	}
	return a
}

// Stats is a snapshot of stripe's counters.
type Stats struct {
	Reads       uint64 // readv calls served
	Writes      uint64 // writev calls served
	Pieces      uint64 // child requests issued by readv, writev, fallocate, discard, zerofill, copy_file_range
	HoleBytes   uint64 // bytes of holes that readv filled with zeroes
	SizeProbes  uint64 // readvs that had to fstat every child to find the end of the file
	Rollbacks   uint64 // fops undone on some children after failing on others
	Divergences uint64 // fops that left the children different (logged)
	// Inconsistent counts fops refused because a file's layout differs
	// between the children (each logged once, see Problem).
	Inconsistent uint64
	// CopyChildBytes and CopyReadWriteBytes count the bytes
	// CopyFileRange left to the children's own copies and copied by
	// readv and writev.
	CopyChildBytes, CopyReadWriteBytes uint64
}

// Sub returns the counts since prev.
func (s Stats) Sub(prev Stats) Stats {
	return Stats{Reads: s.Reads - prev.Reads, Writes: s.Writes - prev.Writes, Pieces: s.Pieces - prev.Pieces,
		HoleBytes: s.HoleBytes - prev.HoleBytes, SizeProbes: s.SizeProbes - prev.SizeProbes,
		Rollbacks: s.Rollbacks - prev.Rollbacks, Divergences: s.Divergences - prev.Divergences,
		Inconsistent: s.Inconsistent - prev.Inconsistent, CopyChildBytes: s.CopyChildBytes - prev.CopyChildBytes,
		CopyReadWriteBytes: s.CopyReadWriteBytes - prev.CopyReadWriteBytes}
}

// Stats returns a snapshot of the counters.
func (s *Stripe) Stats() Stats {
	return Stats{Reads: s.reads.Load(), Writes: s.writes.Load(), Pieces: s.pieces.Load(),
		HoleBytes: s.holeBytes.Load(), SizeProbes: s.sizeProbes.Load(),
		Rollbacks: s.rollbacks.Load(), Divergences: s.divergences.Load(), Inconsistent: s.inconsistent.Load(),
		CopyChildBytes: s.copyChild.Load(), CopyReadWriteBytes: s.copyRW.Load()}
}

// Dump reports the configuration, the children's state and the counters.
func (s *Stripe) Dump() []xlator.KV {
	var pats []string
	for _, p := range s.patterns {
		pats = append(pats, p.Glob+"="+xlator.FormatSize(p.Value))
	}
	var up, down []string
	for i, ch := range s.Children() {
		if s.up[i].Load() {
			up = append(up, xlator.Name(ch))
		} else {
			down = append(down, xlator.Name(ch))
		}
	}
	st := s.Stats()
	return []xlator.KV{
		{Key: "block-size", Value: xlator.FormatSize(s.def.BlockSize)},
		{Key: "child-count", Value: s.def.Count},
		{Key: "coalesce", Value: s.def.Coalesce},
		{Key: "block-size-pattern", Value: strings.Join(pats, ", ")},
		{Key: "geometry-xattr", Value: xattrKeys[s.xkey.Load()]},
		{Key: "children-up", Value: strings.Join(up, ", ")},
		{Key: "children-down", Value: strings.Join(down, ", ")},
		{Key: "reads", Value: st.Reads},
		{Key: "writes", Value: st.Writes},
		{Key: "pieces", Value: st.Pieces},
		{Key: "hole-bytes", Value: st.HoleBytes},
		{Key: "size-probes", Value: st.SizeProbes},
		{Key: "rollbacks", Value: st.Rollbacks},
		{Key: "divergences", Value: st.Divergences},
		{Key: "inconsistent", Value: st.Inconsistent},
		{Key: "copy-child-bytes", Value: st.CopyChildBytes},
		{Key: "copy-readwrite-bytes", Value: st.CopyReadWriteBytes},
	}
}
