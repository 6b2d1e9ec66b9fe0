package writebehind

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/bio"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// maxRunSegs caps the segments of one aggregated writev: what the bio
// layer merges into one pwritev (IOV_MAX).
const maxRunSegs = bio.MaxIovecs

// WriteBehind is the write-behind translator. It is safe for concurrent
// use: each file's held writes are guarded by the file's lock, which a
// flush holds across the child's writevs (that is what orders later fops
// after them); the set of files with held writes has its own mutex, never
// held across a call to the child.
type WriteBehind struct {
	xlator.Base

	// Options, read-only after Init.
	window        int64
	total         int64
	flushBehind   bool
	strictODirect bool
	strictOrder   bool

	mu    sync.Mutex
	dirty map[*file]struct{} // files holding writes

	held       atomic.Int64 // bytes held, all files
	heldWrites atomic.Int64 // writes held, all files

	writes, behind, bypassed        atomic.Uint64
	flushes, childWrites, merged    atomic.Uint64
	copied, failedWrites, lateErrs  atomic.Uint64
	unreported, flushWaitsCancelled atomic.Uint64
}

var _ xlator.Xlator = (*WriteBehind)(nil)

// file is the translator's state on an inode: the writes held for it, in
// the order they came. lock is a one-slot semaphore rather than a mutex so
// that a fop waiting behind a long flush can give up when its caller does.
type file struct {
	lock    chan struct{}
	pending []held // guarded by lock
	bytes   int64  // guarded by lock: payload bytes in pending
	// end is the highest offset+size among the held writes (0 with none),
	// readable without the lock: a read at or past it cannot see them.
	end atomic.Int64
	seq uint64 // guarded by lock: arrival counter
}

// held is one acknowledged write: the translator's own reference on the
// caller's data, the fd it came through (valid until the fd's Release,
// which flushes first) and where it goes.
type held struct {
	fd   *xlator.FD
	data *iobuf.Iobref
	off  int64
	seq  uint64
}

func (h *held) endOff() int64 { return h.off + int64(h.data.Size()) }

// fdState is the translator's state on an fd: the first error a flush met
// writing this fd's held writes, until a fop on the fd reports it.
type fdState struct {
	mu  sync.Mutex
	err error
}

// option returns name's value, or the schema default when the options were
// built by hand (tests) without it.
func option(o xlator.Options, name string) xlator.Value {
	if v, ok := o.Get(name); ok {
		return v
	}
	opt, _ := Schema.Lookup(name)
	v, err := opt.ParseScalar(opt.Default)
	if err != nil {
		panic(fmt.Sprintf("write-behind: default of %s: %v", name, err))
	}
	return v
}

// Init reads the options.
func (w *WriteBehind) Init(ic *xlator.InitContext) error {
	if n := len(w.Children()); n != 1 {
		return fmt.Errorf("write-behind needs exactly one subvolume, has %d", n)
	}
	o := ic.Options
	w.window = option(o, "window-size").Int
	w.total = option(o, "total-window-size").Int
	if w.total < w.window {
		return fmt.Errorf("option total-window-size %s is below window-size %s: one file could not fill its window; raise total-window-size to at least %s",
			xlator.FormatSize(w.total), xlator.FormatSize(w.window), xlator.FormatSize(w.window))
	}
	w.flushBehind = option(o, "flush-behind").Bool
	w.strictODirect = option(o, "strict-o-direct").Bool
	w.strictOrder = option(o, "strict-write-ordering").Bool
	w.dirty = make(map[*file]struct{})
	return nil
}

// Fini writes every held write to the child (fds left open when the graph
// stops still have their data written) and drops the references. Fops
// must have stopped; the child is finalised after this translator.
func (w *WriteBehind) Fini() {
	for _, f := range w.dirtyFiles() {
		f.lock <- struct{}{}
		w.flushLocked(nil, f)
		<-f.lock
	}
}

// Forget drops the file's state. A file with held writes is never
// forgotten: each held write's fd holds the inode until its Release,
// which flushes.
func (w *WriteBehind) Forget(in *xlator.Inode) { in.DelCtx(w) }

// Release writes the file's held writes (the fd's among them) before the
// child releases the fd; an error found then, or one a flush recorded for
// the fd that no fop reported, has nobody left to report it to: it is
// logged and counted as unreported.
func (w *WriteBehind) Release(fd *xlator.FD) {
	if f := w.fileOf(fd.Inode); f != nil && f.end.Load() > 0 {
		f.lock <- struct{}{}
		w.flushLocked(nil, f)
		<-f.lock
	}
	st, _ := fd.DelCtx(w).(*fdState)
	if st == nil {
		return
	}
	st.mu.Lock()
	err := st.err
	st.mu.Unlock()
	if err != nil {
		w.unreported.Add(1)
		w.Logger().Error("write-behind: a write acknowledged early failed and the file was released before any fop could report it",
			zap.String("path", fd.Inode.Path()), zap.Error(err))
	}
}

// fileOf returns the state on in, or nil.
func (w *WriteBehind) fileOf(in *xlator.Inode) *file {
	if in == nil {
		return nil
	}
	f, _ := in.Ctx(w).(*file)
	return f
}

// fileFor returns the state on in, making it on the first write.
func (w *WriteBehind) fileFor(in *xlator.Inode) *file {
	if f, _ := in.Ctx(w).(*file); f != nil {
		return f
	}
	f, _ := in.CtxOrSet(w, func() any { return &file{lock: make(chan struct{}, 1)} }).(*file)
	return f
}

// lock takes f's lock, giving up with ECANCELED if the caller's context
// ends first and the caller is dying or an API caller
// (xlator.CallerDying): a FUSE caller only interrupted by a signal it
// handles waits, as it would on a local file system, rather than get an
// EINTR from stat(2) or write(2). A nil call waits.
func (w *WriteBehind) lock(call *xlator.Call, f *file) error {
	if call == nil {
		f.lock <- struct{}{}
		return nil
	}
	select {
	case f.lock <- struct{}{}:
		return nil
	case <-call.Ctx.Done():
		if !xlator.CallerDying(call.Ctx) {
			f.lock <- struct{}{}
			return nil
		}
		w.flushWaitsCancelled.Add(1)
		return syscall.ECANCELED
	}
}

func unlock(f *file) { <-f.lock }

// sync writes f's held writes if there are any (and the test says they
// matter to the fop). It returns ECANCELED if the caller gave up waiting
// for f's lock; an error of the writes themselves goes to their fds.
func (w *WriteBehind) sync(call *xlator.Call, in *xlator.Inode) error {
	f := w.fileOf(in)
	if f == nil || f.end.Load() == 0 {
		return nil
	}
	if err := w.lock(call, f); err != nil {
		return err
	}
	w.flushLocked(call, f)
	unlock(f)
	return nil
}

// syncAll writes the held writes of every file.
func (w *WriteBehind) syncAll(call *xlator.Call) error {
	for _, f := range w.dirtyFiles() {
		if err := w.lock(call, f); err != nil {
			return err
		}
		w.flushLocked(call, f)
		unlock(f)
	}
	return nil
}

func (w *WriteBehind) dirtyFiles() []*file {
	w.mu.Lock()
	defer w.mu.Unlock()
	fs := make([]*file, 0, len(w.dirty))
	for f := range w.dirty {
		fs = append(fs, f)
	}
	return fs
}

// hold appends a write to f (locked): the translator takes its own
// reference on the data, or, when some of it is borrowed memory (a
// plugin's shared-memory slot), copies it, so as not to keep the lender's
// slots.
func (w *WriteBehind) hold(f *file, fd *xlator.FD, data *iobuf.Iobref, off int64) {
	kept := data
	borrowed := false
	for i := range data.Len() {
		if b, _, _ := data.Entry(i); b.Borrowed() {
			borrowed = true
			break
		}
	}
	if borrowed {
		kept = w.Iobufs().NewIobref()
		for i := range data.Len() {
			seg := data.Seg(i)
			b := w.Iobufs().Get(len(seg))
			copy(b.Bytes(), seg)
			kept.AddRange(b, 0, len(seg))
			b.Unref()
		}
		w.copied.Add(1)
	} else {
		data.Ref()
	}
	f.seq++
	f.pending = append(f.pending, held{fd: fd, data: kept, off: off, seq: f.seq})
	n := int64(data.Size())
	f.bytes += n
	if e := off + n; e > f.end.Load() {
		f.end.Store(e)
	}
	w.held.Add(n)
	w.heldWrites.Add(1)
	if len(f.pending) == 1 {
		w.mu.Lock()
		w.dirty[f] = struct{}{}
		w.mu.Unlock()
	}
}

// flushLocked writes f's held writes to the child (f locked) and empties
// f: adjacent writes of one fd go down as one writev of all their
// segments. It issues the writevs in the order the writes came, or, unless
// strict-write-ordering, sorted by offset when no two overlap. A failed
// writev's error is recorded on its fd for the next write, fsync or flush
// there to report; the writes after it still go down. call is the fop that
// needs the flush (nil from Release and Fini); the writevs run in calls of
// their own, with its credentials and a context that is never cancelled: a
// write acknowledged to one caller must not be abandoned because another
// caller was interrupted.
func (w *WriteBehind) flushLocked(call *xlator.Call, f *file) {
	ws := f.pending
	if len(ws) == 0 {
		return
	}
	if !w.strictOrder && len(ws) > 1 {
		sortIfDisjoint(ws)
	}
	creds := xlator.Creds{}
	var pid uint32
	if call != nil {
		creds = xlator.Creds{Uid: call.Uid, Gid: call.Gid, Groups: call.Groups}
		pid = call.Pid
	}
	wc := w.Graph().Calls().Begin(context.Background(), xlator.FopWritev, creds, 0)
	wc.Pid = pid
	w.flushes.Add(1)
	for i := 0; i < len(ws); {
		j, segs, end := i+1, ws[i].data.Len(), ws[i].endOff()
		for j < len(ws) && ws[j].fd == ws[i].fd && ws[j].off == end && segs+ws[j].data.Len() <= maxRunSegs {
			segs += ws[j].data.Len()
			end = ws[j].endOff()
			j++
		}
		w.writeRun(wc, ws[i:j])
		i = j
	}
	wc.Done()
	for k := range ws {
		ws[k].data.Unref()
		ws[k] = held{}
	}
	f.pending = ws[:0]
	w.held.Add(-f.bytes)
	w.heldWrites.Add(-int64(len(ws)))
	f.bytes = 0
	f.end.Store(0)
	w.mu.Lock()
	delete(w.dirty, f)
	w.mu.Unlock()
}

// writeRun writes adjacent held writes of one fd as one writev.
func (w *WriteBehind) writeRun(call *xlator.Call, run []held) {
	data := run[0].data
	if len(run) > 1 {
		data = w.Iobufs().NewIobref()
		for _, h := range run {
			data.Merge(h.data)
		}
		w.merged.Add(uint64(len(run)))
	}
	_, err := w.FirstChild().Writev(call, run[0].fd, data, run[0].off)
	if len(run) > 1 {
		data.Unref()
	}
	w.childWrites.Add(1)
	if err != nil {
		w.failedWrites.Add(uint64(len(run)))
		w.setErr(run[0].fd, err)
		w.Logger().Debug("write-behind: a held write failed; the fd's next write, fsync or flush reports it",
			zap.Int64("offset", run[0].off), zap.Int("size", data.Size()), zap.Error(err))
	}
}

// sortIfDisjoint sorts ws by offset if no two writes overlap, and leaves
// them in arrival order otherwise.
func sortIfDisjoint(ws []held) {
	if slices.IsSortedFunc(ws, byOffset) {
		return
	}
	slices.SortStableFunc(ws, byOffset)
	for k := 1; k < len(ws); k++ {
		if ws[k].off < ws[k-1].endOff() {
			slices.SortFunc(ws, func(a, b held) int { return cmp.Compare(a.seq, b.seq) })
			return
		}
	}
}

func byOffset(a, b held) int { return cmp.Compare(a.off, b.off) }

// setErr records err for fd's next write, fsync or flush, keeping the
// first error until it is reported.
func (w *WriteBehind) setErr(fd *xlator.FD, err error) {
	st, _ := fd.Ctx(w).(*fdState)
	if st == nil {
		st = &fdState{}
		fd.SetCtx(w, st) // under the file's lock: no other flush races
	}
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
}

// takeErr returns and clears the error recorded for fd: each error is
// reported once, by the first write, fsync or flush after it.
func (w *WriteBehind) takeErr(fd *xlator.FD) error {
	st, _ := fd.Ctx(w).(*fdState)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	err := st.err
	st.err = nil
	st.mu.Unlock()
	if err != nil {
		w.lateErrs.Add(1)
	}
	return err
}
