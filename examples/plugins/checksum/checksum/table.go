package checksum

import (
	"encoding/binary"
	"errors"
	"sync"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// Layout of a table file (see the package doc).
const (
	magic      = "XCK2"
	headerSize = 8
	// pageEntries is how many entries one cached page holds: 4 KiB of
	// table, read in one fop.
	pageEntries = 1024
	// maxPages bounds the pages cached per file (1 MiB).
	maxPages = 256
)

// table is the checksum state of one file: its open table file and a
// cache of its entries. It lives in the context of the file's inode, or,
// for a file the inode table does not know, for one fop (hold).
//
// mu orders the file's data against its sums: writes, truncates and
// zeroing hold it exclusively from before their data fop reaches the child
// until their entries are stored; reads hold it shared while they read and
// check. So a reader never checks a block while it is being rewritten,
// and two writers never interleave a block's data and sum. pmu guards
// pages, which readers fill.
type table struct {
	mu     sync.RWMutex
	loaded bool
	gfid   xlator.GFID
	// fd is the table file, open read-write; nil when the file has no
	// table (then it is read unchecked, and its first write makes one).
	fd   *xlator.FD
	bs   int64  // the table's block size (from its header)
	zero uint32 // zeroSum(bs)
	// rfd is a read-only fd on the data file, opened when a write through
	// a write-only fd needs the rest of a block.
	rfd *xlator.FD
	// unlinked: the data file's last name is gone; a table made now is
	// made without a name.
	unlinked bool

	pmu   sync.Mutex
	pages map[int64]*page
}

// page is pageEntries entries of a table, as stored.
type page [pageEntries]uint32

// tableName is the name of the table of the file with gfid g.
func tableName(g xlator.GFID) string { return g.String() }

// internal returns a call for the translator's own entry fops on behalf
// of c, with root's credentials, so that the table directory and files
// belong to root whoever writes. The caller ends it with Done.
func internal(c *xlator.Call) *xlator.Call {
	ic := c.Fork()
	ic.Uid, ic.Gid, ic.Groups = 0, 0, nil
	return ic
}

// tableDir returns the table directory's inode with a reference, looking
// it up on first use, and making it when create is set (ENOENT when it
// does not exist and create is not set).
func (x *Checksum) tableDir(c *xlator.Call, create bool) (*xlator.Inode, error) {
	x.dirMu.Lock()
	defer x.dirMu.Unlock()
	if x.dir != nil {
		return x.dir.Ref(), nil
	}
	tab := x.Graph().Inodes()
	in := tab.New()
	defer in.Unref()
	loc := &xlator.Loc{Parent: tab.Root(), Name: x.dirName, Inode: in}
	ia, err := x.FirstChild().Lookup(c, loc)
	if errors.Is(err, syscall.ENOENT) && create {
		ia, err = x.FirstChild().Mkdir(c, loc, 0o700, 0)
		if errors.Is(err, syscall.EEXIST) {
			ia, err = x.FirstChild().Lookup(c, loc)
		}
	}
	if err != nil {
		return nil, err
	}
	if !ia.IsDir() {
		x.Logger().Error("the checksum table directory is not a directory: files cannot be protected",
			zap.String("name", x.dirName))
		return nil, syscall.ENOTDIR
	}
	x.dir = tab.Link(in, tab.Root(), x.dirName, &ia)
	return x.dir.Ref(), nil
}

// inDir runs op on the table directory, and once more after looking the
// directory up again if the child no longer knows it (ESTALE: a plugin's
// host may have dropped the directory from its inode table).
func (x *Checksum) inDir(c *xlator.Call, create bool, op func(dir *xlator.Inode) error) error {
	for try := 0; ; try++ {
		dir, err := x.tableDir(c, create)
		if err != nil {
			return err
		}
		err = op(dir)
		dir.Unref()
		if !errors.Is(err, syscall.ESTALE) || try > 0 {
			return err
		}
		x.dirMu.Lock()
		if x.dir == dir {
			x.dir.Unref()
			x.dir = nil
		}
		x.dirMu.Unlock()
	}
}

// openTable opens (or, with create, creates empty) the table file of the
// file with gfid g, read-write. The table file's inode is linked in the
// inode table under the table directory, as a front end links what it
// opens: children find an fd's file by its inode.
func (x *Checksum) openTable(c *xlator.Call, g xlator.GFID, create bool) (*xlator.FD, error) {
	var fd *xlator.FD
	err := x.inDir(c, create, func(dir *xlator.Inode) error {
		tab := x.Graph().Inodes()
		in := tab.New()
		defer in.Unref()
		name := tableName(g)
		loc := &xlator.Loc{Parent: dir, Name: name, Inode: in}
		if create {
			fd = x.Graph().NewFD(in, syscall.O_RDWR, 0, false)
			ia, err := x.FirstChild().Create(c, loc, syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC, 0o600, 0, fd)
			if err != nil {
				fd.Unref()
				return err
			}
			if linked := tab.Link(in, dir, name, &ia); linked != in {
				fd.Inode = linked // the fd takes Link's reference
				in.Unref()        // and drops its own on in
			} else {
				linked.Unref()
			}
			return nil
		}
		ia, err := x.FirstChild().Lookup(c, loc)
		if err != nil {
			return err
		}
		linked := tab.Link(in, dir, name, &ia)
		defer linked.Unref()
		fd = x.Graph().NewFD(linked, syscall.O_RDWR, 0, false)
		if err := x.FirstChild().Open(c, &xlator.Loc{Parent: dir, Name: name, Inode: linked}, syscall.O_RDWR, fd); err != nil {
			fd.Unref()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fd, nil
}

// removeTable removes the name of the table of the file with gfid g; a
// table that is open stays usable until closed.
func (x *Checksum) removeTable(c *xlator.Call, g xlator.GFID) error {
	err := x.inDir(c, false, func(dir *xlator.Inode) error {
		name := tableName(g)
		if err := x.FirstChild().Unlink(c, &xlator.Loc{Parent: dir, Name: name}); err != nil {
			return err
		}
		x.Graph().Inodes().Unlink(dir, name)
		return nil
	})
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	return err
}

// load opens the table of t's file if it has one and reads its header.
// A file with no table, or with a malformed one, loads as unprotected.
// t.mu is held exclusively.
func (x *Checksum) load(c *xlator.Call, t *table) error {
	ic := internal(c)
	defer ic.Done()
	fd, err := x.openTable(ic, t.gfid, false)
	if errors.Is(err, syscall.ENOENT) {
		t.loaded = true
		return nil
	}
	if err != nil {
		return err
	}
	ref, err := x.FirstChild().Readv(c, fd, headerSize, 0)
	if err != nil {
		fd.Unref()
		return err
	}
	var h [headerSize]byte
	n := ref.CopyTo(h[:])
	ref.Unref()
	bs := int64(binary.LittleEndian.Uint32(h[4:]))
	if n < headerSize || string(h[:4]) != magic || bs < MinBlockSize || bs > MaxBlockSize {
		x.Logger().Warn("ignoring a malformed checksum table: the file is read unchecked until written",
			zap.String("gfid", t.gfid.String()), zap.String("table", x.dirName+"/"+tableName(t.gfid)))
		fd.Unref()
		t.loaded = true
		return nil
	}
	t.fd, t.bs, t.zero, t.loaded = fd, bs, zeroSum(bs), true
	return nil
}

// create makes the table of t's file, whose attributes are ia, before the
// first write through the translator: the blocks the file already holds
// (written before the translator was in the stack, or behind its back)
// are recorded as unknown. A file with no name left gets a table without
// a name, which goes away when the translator closes it. t.mu is held
// exclusively.
func (x *Checksum) create(c *xlator.Call, t *table, ia *xlator.Iatt) error {
	ic := internal(c)
	defer ic.Done()
	fd, err := x.openTable(ic, t.gfid, true)
	if err != nil {
		return err
	}
	if err := x.writeHeader(c, fd, (ia.Size+x.bs-1)/x.bs); err != nil {
		fd.Unref()
		return err
	}
	if t.unlinked || ia.Nlink == 0 {
		if err := x.removeTable(ic, t.gfid); err != nil {
			x.Logger().Warn("cannot remove the name of a new table of a file that has none: it stays behind",
				zap.String("gfid", t.gfid.String()), zap.Error(err))
		}
	}
	t.fd, t.bs, t.zero = fd, x.bs, x.zero
	return nil
}

// writeHeader writes a new table's header and n unknown entries.
func (x *Checksum) writeHeader(c *xlator.Call, fd *xlator.FD, n int64) error {
	total := headerSize + 4*n
	for off := int64(0); off < total; {
		l := min(total-off, 1<<20)
		buf := x.Iobufs().Get(int(l))
		b := buf.Bytes()[:l]
		for i := range b {
			b[i] = 0xff
		}
		if off == 0 {
			copy(b, magic)
			binary.LittleEndian.PutUint32(b[4:], uint32(x.bs))
		}
		ref := x.Iobufs().NewIobref()
		ref.AddRange(buf, 0, int(l))
		buf.Unref()
		w, err := x.FirstChild().Writev(c, fd, ref, off)
		ref.Unref()
		if err == nil && int64(w) < l {
			err = syscall.EIO
		}
		if err != nil {
			return err
		}
		off += l
	}
	x.unknown.Add(uint64(n))
	return nil
}

// entryOf returns the entry of block b, reading its page of the table on
// first use; entries past the end of the table file are 0 (blocks of
// zeroes). t.mu is held, either way.
func (x *Checksum) entryOf(c *xlator.Call, t *table, b int64) (uint32, error) {
	p := b / pageEntries
	t.pmu.Lock()
	defer t.pmu.Unlock()
	pg := t.pages[p]
	if pg == nil {
		ref, err := x.FirstChild().Readv(c, t.fd, 4*pageEntries, headerSize+4*pageEntries*p)
		if err != nil {
			return 0, err
		}
		var raw [4 * pageEntries]byte
		n := ref.CopyTo(raw[:])
		ref.Unref()
		pg = x.pages.Get0()
		for i := 0; i < n/4; i++ {
			pg[i] = binary.LittleEndian.Uint32(raw[4*i:])
		}
		if t.pages == nil {
			t.pages = make(map[int64]*page)
		}
		if len(t.pages) >= maxPages {
			for k, old := range t.pages { // any one: pages are written through
				delete(t.pages, k)
				_ = x.pages.Put(old)
				break
			}
		}
		t.pages[p] = pg
	}
	return pg[b%pageEntries], nil
}

// put stores the entries in b (4 bytes each, little-endian) from block
// first on, and returns how many were stored: fewer than all with an
// error. Cached pages follow what was stored; those of entries that may
// be half-written are dropped, to be read again. t.mu is held
// exclusively.
func (x *Checksum) put(c *xlator.Call, t *table, first int64, b []byte) (int64, error) {
	ref := x.Iobufs().FromBytes(b)
	w, err := x.FirstChild().Writev(c, t.fd, ref, headerSize+4*first)
	ref.Unref()
	n := int64(len(b) / 4)
	stored := min(int64(max(w, 0))/4, n)
	if stored < n && err == nil {
		err = syscall.EIO
	}
	t.pmu.Lock()
	for i := int64(0); i < n; i++ {
		bl := first + i
		pg := t.pages[bl/pageEntries]
		if pg == nil {
			continue
		}
		if i < stored {
			pg[bl%pageEntries] = binary.LittleEndian.Uint32(b[4*i:])
		} else {
			delete(t.pages, bl/pageEntries)
			_ = x.pages.Put(pg)
		}
	}
	t.pmu.Unlock()
	return stored, err
}

// zeroEntries records blocks [first, first+n) as blocks of zeroes (entry
// 0) with one fop, whatever n. t.mu is held exclusively.
func (x *Checksum) zeroEntries(c *xlator.Call, t *table, first, n int64) error {
	if n <= 0 {
		return nil
	}
	err := x.FirstChild().Zerofill(c, t.fd, headerSize+4*first, 4*n)
	t.pmu.Lock()
	for p, pg := range t.pages {
		lo, hi := max(first, p*pageEntries), min(first+n, (p+1)*pageEntries)
		if lo >= hi {
			continue
		}
		if err != nil {
			delete(t.pages, p)
			_ = x.pages.Put(pg)
			continue
		}
		clear(pg[lo-p*pageEntries : hi-p*pageEntries])
	}
	t.pmu.Unlock()
	return err
}

// setLen makes the table hold n entries: entries past them are gone (a
// shrinking truncate), entries added read as 0 (blocks of zeroes, as a
// growing truncate leaves). t.mu is held exclusively.
func (x *Checksum) setLen(c *xlator.Call, t *table, n int64) error {
	_, err := x.FirstChild().Fsetattr(c, t.fd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: headerSize + 4*n})
	t.pmu.Lock()
	for p, pg := range t.pages {
		switch {
		case err != nil || p*pageEntries >= n:
			delete(t.pages, p)
			_ = x.pages.Put(pg)
		case (p+1)*pageEntries > n:
			clear(pg[n-p*pageEntries:])
		}
	}
	t.pmu.Unlock()
	return err
}

// release closes what t holds and returns it to the pool.
func (x *Checksum) release(t *table) {
	if t.fd != nil {
		t.fd.Unref()
	}
	if t.rfd != nil {
		t.rfd.Unref()
	}
	for _, pg := range t.pages {
		_ = x.pages.Put(pg)
	}
	t.fd, t.rfd, t.pages, t.loaded = nil, nil, nil, false
	_ = x.tables.Put(t)
}

// stateOf returns the loaded state of in, a linked inode, from its
// context.
func (x *Checksum) stateOf(c *xlator.Call, in *xlator.Inode) (*table, error) {
	g := in.GFID()
	t := in.CtxOrSet(x, func() any {
		t := x.tables.Get0()
		t.gfid = g
		return t
	}).(*table)
	t.mu.RLock()
	loaded := t.loaded
	t.mu.RUnlock()
	if loaded {
		return t, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loaded {
		if err := x.load(c, t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// hold returns the loaded state of the file with gfid g, the inode that
// stands for it, and a function that lets go of them: the state in the
// context of g's inode when the inode table knows it, so that every fop on
// the file shares it, else one for the caller alone (and a nil inode).
func (x *Checksum) hold(c *xlator.Call, g xlator.GFID) (*table, *xlator.Inode, func(), error) {
	if in := x.Graph().Inodes().Find(g); in != nil {
		t, err := x.stateOf(c, in)
		if err != nil {
			in.Unref()
			return nil, nil, nil, err
		}
		return t, in, in.Unref, nil
	}
	t := x.tables.Get0()
	t.gfid = g
	t.mu.Lock()
	err := x.load(c, t)
	t.mu.Unlock()
	if err != nil {
		x.release(t)
		return nil, nil, nil, err
	}
	return t, nil, func() { x.release(t) }, nil
}

// fileTable is fileOf and stateOf together, for the fops on an open file:
// fd's inode (held: the caller Unrefs it) and its table. A table that
// cannot be opened fails the fop (tableErr) and, with refusal set, is
// logged saying what the fop does about it.
func (x *Checksum) fileTable(c *xlator.Call, fd *xlator.FD, refusal string) (in *xlator.Inode, held bool, t *table, err error) {
	in, held, err = x.fileOf(c, fd)
	if err != nil {
		return nil, false, nil, err
	}
	if t, err = x.stateOf(c, in); err != nil {
		if refusal != "" {
			x.Logger().Error("cannot open the checksum table: "+refusal, zap.String("path", in.Path()), zap.Error(err))
		}
		if held {
			in.Unref()
		}
		return nil, false, nil, x.tableErr(err)
	}
	return in, held, t, nil
}

// fileOf returns the inode that stands for the file fd is open on, and
// whether the caller holds a reference on it to drop: fd.Inode when it
// carries a gfid; otherwise (in a plugin, the fd of a create that found
// the name existing) the table's inode for the gfid the child reports, so
// that every fop on one file shares one state.
func (x *Checksum) fileOf(c *xlator.Call, fd *xlator.FD) (*xlator.Inode, bool, error) {
	if !fd.Inode.GFID().IsZero() {
		return fd.Inode, false, nil
	}
	ia, err := x.FirstChild().Fstat(c, fd)
	if err != nil {
		return nil, false, err
	}
	tab := x.Graph().Inodes()
	if in := tab.Find(ia.Gfid); in != nil {
		return in, true, nil
	}
	return tab.Link(nil, nil, "", &ia), true, nil
}
