package xlator

import (
	"container/list"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xstack/xstack/runtime/mempool"
)

// Inode is the stack's in-memory object for one file, shared by every
// translator (GlusterFS's inode_t). It is identified by its GFID once
// linked into the table. Each translator keeps its own state on the inode
// in a context slot indexed by its graph position (Ctx, SetCtx).
//
// Lifetime: the table keeps an inode while the kernel (or an API client)
// holds lookups on it (nlookup > 0) or references are held on it
// (Ref/Unref); with neither it sits on the table's LRU list and is
// dropped, calling every translator's Forget, when the list passes its
// limit. Every name the table knows (a dentry) keeps its parent too, as
// GlusterFS's dentries hold a reference on theirs, so a directory stays
// while a child the table knows stays, and the child's path stays whole.
// A graph's table takes its inodes from the pool "<top>:inode_t" and gives
// a forgotten inode back to it, dentry array and context slots included
// (so dentries need no pool of their own); no one may use an inode after
// the table forgot it.
type Inode struct {
	table *Table
	gfid  GFID
	ftype atomic.Uint32 // S_IFMT bits

	// Guarded by table.mu.
	nlookup uint64
	refs    int64
	names   int64 // names the table knows in this directory (dentries whose parent it is)
	linked  bool
	dents   []dentry
	lruElem *list.Element

	ctxMu sync.Mutex
	ctx   []any
}

type dentry struct {
	parent *Inode
	name   string
}

type dentKey struct {
	parent *Inode
	name   string
}

// GFID returns the inode's identity (zero until linked).
func (in *Inode) GFID() GFID { return in.gfid }

// Type returns the file type bits (S_IFMT) learned at link time.
func (in *Inode) Type() uint32 { return in.ftype.Load() }

// Table returns the table the inode belongs to.
func (in *Inode) Table() *Table { return in.table }

// Ctx returns translator x's context on the inode, or nil.
func (in *Inode) Ctx(x Xlator) any {
	i := x.base().index
	in.ctxMu.Lock()
	defer in.ctxMu.Unlock()
	if i < len(in.ctx) {
		return in.ctx[i]
	}
	return nil
}

// SetCtx sets translator x's context on the inode.
func (in *Inode) SetCtx(x Xlator, v any) {
	i := x.base().index
	in.ctxMu.Lock()
	defer in.ctxMu.Unlock()
	if i < len(in.ctx) {
		in.ctx[i] = v
	}
}

// CtxOrSet returns x's context, setting it to mk() first if it is unset;
// mk runs under the inode's context lock, so it must be quick and must not
// call back into the inode.
func (in *Inode) CtxOrSet(x Xlator, mk func() any) any {
	i := x.base().index
	in.ctxMu.Lock()
	defer in.ctxMu.Unlock()
	if i >= len(in.ctx) {
		return nil
	}
	if in.ctx[i] == nil {
		in.ctx[i] = mk()
	}
	return in.ctx[i]
}

// DelCtx clears x's context and returns what it was.
func (in *Inode) DelCtx(x Xlator) any {
	i := x.base().index
	in.ctxMu.Lock()
	defer in.ctxMu.Unlock()
	if i >= len(in.ctx) {
		return nil
	}
	v := in.ctx[i]
	in.ctx[i] = nil
	return v
}

// Dentry returns one name of the inode: its parent and the entry name
// (the first link the table knows), with a reference on the parent that
// the caller drops with Unref. ok is false for the root and for an inode
// the table knows no name for.
func (in *Inode) Dentry() (parent *Inode, name string, ok bool) {
	t := in.table
	t.mu.Lock()
	defer t.unlock()
	if len(in.dents) == 0 {
		return nil, "", false
	}
	d := in.dents[0]
	d.parent.refs++
	t.touch(d.parent)
	return d.parent, d.name, true
}

// Path renders the inode's path from the root through its first dentry;
// an inode the table knows no name for renders as "<gfid:UUID>", as in
// GlusterFS. It allocates.
func (in *Inode) Path() string {
	t := in.table
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	cur := in
	for depth := 0; cur != t.root; depth++ {
		if len(cur.dents) == 0 || depth > 4096 {
			parts = append(parts, "<gfid:"+cur.gfid.String()+">")
			break
		}
		parts = append(parts, cur.dents[0].name)
		cur = cur.dents[0].parent
	}
	if len(parts) == 0 {
		return "/"
	}
	var sb strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		if !strings.HasPrefix(parts[i], "<gfid:") {
			sb.WriteByte('/')
		}
		sb.WriteString(parts[i])
	}
	return sb.String()
}

// Ref takes a reference that keeps the inode in the table.
func (in *Inode) Ref() *Inode {
	t := in.table
	t.mu.Lock()
	in.refs++
	t.touch(in)
	t.unlock()
	return in
}

// Unref drops a reference taken by Ref (or by the table on New).
func (in *Inode) Unref() {
	t := in.table
	t.mu.Lock()
	in.refs--
	if in.refs < 0 {
		in.refs = 0
		t.errors++
	}
	t.touch(in)
	t.unlock()
}

// unlock releases t.mu and calls every translator's Forget for the
// inodes dropped while it was held (outside the lock: Forget may take
// other locks and call into the table).
func (t *Table) unlock() {
	dropped := t.dropped
	t.dropped = nil
	t.mu.Unlock()
	t.forgetAll(dropped)
}

// Table is the inode table of a graph: inodes by GFID, names by parent and
// entry, and an LRU of inodes nobody references. Safe for concurrent use.
type Table struct {
	mu       sync.Mutex
	byGfid   map[GFID]*Inode
	byName   map[dentKey]*Inode
	lru      *list.List
	lruLimit int
	root     *Inode
	slots    int
	forget   func(*Inode) // calls every translator's Forget
	dropped  []*Inode     // retired while mu is held; forgotten by unlock
	errors   int64
	created  uint64
	retired  uint64
	pool     *mempool.Pool[Inode] // nil: inodes come from the heap; see UsePool
}

// NewTable returns a table whose inodes have slots context slots; forget
// is called for every inode the table drops. lruLimit bounds the inodes
// kept with no lookups and no references (0 means 16384).
func NewTable(slots, lruLimit int, forget func(*Inode)) *Table {
	if lruLimit <= 0 {
		lruLimit = 16384
	}
	t := &Table{byGfid: map[GFID]*Inode{}, byName: map[dentKey]*Inode{}, lru: list.New(),
		lruLimit: lruLimit, slots: slots, forget: forget}
	t.root = t.newInode()
	t.root.gfid = RootGFID
	t.root.ftype.Store(0o040000)
	t.root.linked = true
	t.root.nlookup = 1 // the root is never forgotten
	t.byGfid[RootGFID] = t.root
	return t
}

// Root returns the root directory's inode.
func (t *Table) Root() *Inode { return t.root }

// UsePool makes the table take its inodes from p and give them back once
// forgotten, with their context slots and dentry array, as GlusterFS's
// itable does with its inode_t pool. Call it before the table is used.
func (t *Table) UsePool(p *mempool.Pool[Inode]) { t.pool = p }

func (t *Table) newInode() *Inode {
	t.created++
	if t.pool == nil {
		return &Inode{table: t, ctx: make([]any, t.slots)}
	}
	in := t.pool.Get()
	// A pooled inode comes back as recycle left it: counts zero, context
	// cleared, not linked; a fresh one from the pool's heap fallback is
	// all zero.
	in.table = t
	if cap(in.ctx) < t.slots {
		in.ctx = make([]any, t.slots)
	}
	in.ctx = in.ctx[:t.slots]
	return in
}

// recycle gives forgotten inodes back to the pool: those that are still
// unlinked, unreferenced and unknown to the front end once every
// translator's Forget has run. Anything else is left to the collector, in
// case its holder still uses it.
func (t *Table) recycle(dropped []*Inode) {
	if t.pool == nil {
		return
	}
	t.mu.Lock()
	n := 0
	for _, in := range dropped {
		if in == t.root || in.linked || in.refs != 0 || in.nlookup != 0 || in.names != 0 || in.lruElem != nil || len(in.dents) != 0 {
			continue
		}
		dropped[n] = in
		n++
	}
	t.mu.Unlock()
	for _, in := range dropped[:n] {
		in.ctxMu.Lock()
		clear(in.ctx)
		in.ctxMu.Unlock()
		in.gfid = GFID{}
		in.ftype.Store(0)
		in.dents = in.dents[:0]
		in.table = nil
		_ = t.pool.Put(in) // refused only for an inode not from the pool: the GC takes it
	}
}

// New returns a fresh, unlinked inode holding one reference, for a create,
// mkdir, mknod or symlink whose GFID is not known yet, or a lookup of a new
// name. Link it (or Unref it) after the fop.
func (t *Table) New() *Inode {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.newInode()
	in.refs = 1
	return in
}

// Find returns the linked inode with gfid g, with a reference, or nil.
func (t *Table) Find(g GFID) *Inode {
	t.mu.Lock()
	defer t.unlock()
	in := t.byGfid[g]
	if in != nil {
		in.refs++
		t.touch(in)
	}
	return in
}

// Child returns the linked inode named name in parent, with a reference,
// or nil. It is a cache: a caller that needs the truth does a Lookup fop.
func (t *Table) Child(parent *Inode, name string) *Inode {
	t.mu.Lock()
	defer t.unlock()
	in := t.byName[dentKey{parent, name}]
	if in != nil {
		in.refs++
		t.touch(in)
	}
	return in
}

// Link records that parent/name is the file with attributes ia and returns
// the table's inode for ia.Gfid with a new reference: in itself, now
// linked, if the GFID is new, or the inode already linked under that GFID.
// Either way the caller still holds its own reference on in (from New) and
// drops it with Unref. in may be nil. parent nil links without a name (an
// inode found by GFID).
func (t *Table) Link(in *Inode, parent *Inode, name string, ia *Iatt) *Inode {
	t.mu.Lock()
	defer t.unlock()
	cur := t.byGfid[ia.Gfid]
	if cur == nil {
		if in == nil || in.linked {
			in = t.newInode()
		}
		cur = in
		cur.gfid = ia.Gfid
		cur.linked = true
		t.byGfid[ia.Gfid] = cur
	}
	cur.ftype.Store(ia.Type())
	cur.refs++
	if parent != nil {
		k := dentKey{parent, name}
		if old := t.byName[k]; old != nil && old != cur {
			t.dropDent(old, parent, name)
		}
		if t.byName[k] != cur {
			t.addDent(cur, parent, name)
		}
	}
	t.touch(cur)
	return cur
}

// addDent records parent/name as a name of in, which keeps parent in the
// table. t.mu is held.
func (t *Table) addDent(in, parent *Inode, name string) {
	t.byName[dentKey{parent, name}] = in
	in.dents = append(in.dents, dentry{parent, name})
	parent.names++
	t.touch(parent)
}

// dropDent forgets parent/name as a name of in; parent may then become
// idle. t.mu is held.
func (t *Table) dropDent(in, parent *Inode, name string) {
	k := dentKey{parent, name}
	if t.byName[k] == in {
		delete(t.byName, k)
	}
	for i, d := range in.dents {
		if d.parent == parent && d.name == name {
			in.dents = append(in.dents[:i], in.dents[i+1:]...)
			parent.names--
			t.touch(parent)
			return
		}
	}
}

// Unlink forgets the name parent/name (after an unlink, rmdir or the source
// of a rename).
func (t *Table) Unlink(parent *Inode, name string) {
	t.mu.Lock()
	defer t.unlock()
	if in := t.byName[dentKey{parent, name}]; in != nil {
		t.dropDent(in, parent, name)
	}
}

// Rename moves the name oldParent/oldName to newParent/newName.
func (t *Table) Rename(oldParent *Inode, oldName string, newParent *Inode, newName string) {
	t.mu.Lock()
	defer t.unlock()
	in := t.byName[dentKey{oldParent, oldName}]
	if old := t.byName[dentKey{newParent, newName}]; old != nil && old != in {
		t.dropDent(old, newParent, newName)
	}
	if in == nil {
		return
	}
	// The new name first: the old parent's reference must not be the
	// last one of an inode that is also the new parent.
	if t.byName[dentKey{newParent, newName}] != in {
		t.addDent(in, newParent, newName)
	}
	if oldParent != newParent || oldName != newName {
		t.dropDent(in, oldParent, oldName)
	}
}

// AddLookup adds n to the inode's lookup count: the kernel (or an API
// client) now knows the inode n more times.
func (t *Table) AddLookup(in *Inode, n uint64) {
	t.mu.Lock()
	in.nlookup += n
	t.touch(in)
	t.unlock()
}

// ForgetLookup subtracts n from the inode's lookup count (FUSE FORGET).
func (t *Table) ForgetLookup(in *Inode, n uint64) {
	t.mu.Lock()
	if in == t.root {
		t.mu.Unlock()
		return
	}
	if n > in.nlookup {
		n = in.nlookup
	}
	in.nlookup -= n
	t.touch(in)
	t.unlock()
}

// touch moves in between the active set and the LRU list after its counts
// changed, retiring the inodes pushed out of the LRU list (t.dropped
// collects them for unlock). t.mu is held.
func (t *Table) touch(in *Inode) {
	if in == t.root {
		return
	}
	idle := in.refs == 0 && in.nlookup == 0 && in.names == 0
	switch {
	case idle && in.lruElem == nil:
		in.lruElem = t.lru.PushFront(in)
	case !idle && in.lruElem != nil:
		t.lru.Remove(in.lruElem)
		in.lruElem = nil
	case idle:
		t.lru.MoveToFront(in.lruElem)
	}
	if !in.linked && idle && in.lruElem != nil {
		// An unlinked inode nobody holds can never be found again.
		t.lru.Remove(in.lruElem)
		in.lruElem = nil
		t.retire(in)
	}
	t.trimLocked()
}

// SetLRULimit sets the bound on the inodes kept with no lookups and no
// references (n <= 0 leaves it as it is), dropping the least recently
// used past it. A FUSE mount sets it to its inode-lru-limit, as
// GlusterFS's fuse lru-limit sets its inode table's.
func (t *Table) SetLRULimit(n int) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.unlock()
	t.lruLimit = n
	t.trimLocked()
}

// trimLocked retires the least recently used idle inodes past the limit.
// t.mu is held.
func (t *Table) trimLocked() {
	for t.lru.Len() > t.lruLimit {
		e := t.lru.Back()
		old := e.Value.(*Inode)
		t.lru.Remove(e)
		old.lruElem = nil
		t.retire(old)
	}
}

// retire removes in from the maps and its names (which may leave a parent
// idle, and retire it in turn), and queues it for Forget. t.mu is held.
func (t *Table) retire(in *Inode) {
	if in.linked && t.byGfid[in.gfid] == in {
		delete(t.byGfid, in.gfid)
	}
	in.linked = false
	t.retired++
	t.dropped = append(t.dropped, in)
	for len(in.dents) > 0 {
		d := in.dents[len(in.dents)-1]
		t.dropDent(in, d.parent, d.name)
	}
}

func (t *Table) forgetAll(dropped []*Inode) {
	if t.forget != nil {
		for _, in := range dropped {
			t.forget(in)
		}
	}
	t.recycle(dropped)
}

// Purge drops every inode nobody holds (for a graph that is stopping),
// and the directories that only their children's names held.
func (t *Table) Purge() {
	t.mu.Lock()
	for e := t.lru.Front(); e != nil; e = t.lru.Front() {
		in := e.Value.(*Inode)
		t.lru.Remove(e)
		in.lruElem = nil
		t.retire(in)
	}
	t.unlock()
}

// Close forgets every inode, for a graph that is stopping: those nobody
// holds as Purge does, and also those the front end still counts
// lookups on (its kernel or client is gone) and those still referenced,
// so that every translator's inode context goes back to its pools before
// the pools are destroyed (GlusterFS's inode_table_destroy). A held inode
// stays in the table for its holder, without context; the root keeps
// its place.
func (t *Table) Close() {
	t.Purge()
	t.mu.Lock()
	// Names go first: they keep their parents for the table, not for a
	// holder.
	for _, in := range t.byGfid {
		for len(in.dents) > 0 {
			d := in.dents[len(in.dents)-1]
			in.dents = in.dents[:len(in.dents)-1]
			delete(t.byName, dentKey(d))
			d.parent.names--
		}
	}
	var dropped, held []*Inode
	for _, in := range t.byGfid {
		if in == t.root || in.refs > 0 {
			held = append(held, in)
			continue
		}
		if in.lruElem != nil {
			t.lru.Remove(in.lruElem)
			in.lruElem = nil
		}
		in.nlookup = 0
		dropped = append(dropped, in)
	}
	for _, in := range dropped {
		in.linked = false
		delete(t.byGfid, in.gfid)
		t.retired++
	}
	t.mu.Unlock()
	t.forgetAll(dropped)
	t.forgetAll(held)
}

// TableStats is a snapshot of a table's counts (GlusterFS's itable
// section: active_size, lru_size, purge_size).
type TableStats struct {
	Linked   int    `json:"linked"`
	Active   int    `json:"active_size"`
	LRU      int    `json:"lru_size"`
	LRULimit int    `json:"lru_limit"`
	Names    int    `json:"dentries"`
	Created  uint64 `json:"created"`
	Retired  uint64 `json:"retired"`
	Errors   int64  `json:"errors"`
}

// Stats returns a snapshot of the table's counts.
func (t *Table) Stats() TableStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	active := 0
	for _, in := range t.byGfid {
		if in.refs > 0 {
			active++
		}
	}
	return TableStats{Linked: len(t.byGfid), Active: active, LRU: t.lru.Len(), LRULimit: t.lruLimit,
		Names: len(t.byName), Created: t.created, Retired: t.retired, Errors: t.errors}
}

// InodeInfo is a snapshot of one inode for the statedump.
type InodeInfo struct {
	Gfid    GFID
	Path    string
	Type    uint32
	Nlookup uint64
	Refs    int64
	Ctx     []int // indexes of the translators holding context
}

// Active returns snapshots of up to max inodes that hold references.
func (t *Table) Active(max int) []InodeInfo {
	t.mu.Lock()
	var ins []*Inode
	for _, in := range t.byGfid {
		if in.refs > 0 && len(ins) < max {
			ins = append(ins, in)
		}
	}
	infos := make([]InodeInfo, len(ins))
	for i, in := range ins {
		infos[i] = InodeInfo{Gfid: in.gfid, Type: in.ftype.Load(), Nlookup: in.nlookup, Refs: in.refs}
	}
	t.mu.Unlock()
	for i, in := range ins {
		infos[i].Path = in.Path()
		in.ctxMu.Lock()
		for j, v := range in.ctx {
			if v != nil {
				infos[i].Ctx = append(infos[i].Ctx, j)
			}
		}
		in.ctxMu.Unlock()
	}
	return infos
}
