package locks

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xstack/xstack/xlator"
)

// Locks is the lock translator. It is safe for concurrent use: all lock
// state is guarded by one mutex, never held across a call to the child or
// a wait.
type Locks struct {
	xlator.Base

	mu     sync.Mutex
	inodes map[*xlator.Inode]*inodeLocks // files with locks or waiters

	granted, conflicts, waits, interrupted atomic.Uint64
	flushed, released                      atomic.Uint64
}

var _ xlator.Xlator = (*Locks)(nil)

// lock is one granted or waiting lock.
type lock struct {
	typ        uint32
	start, end int64 // end inclusive; xlator.LockToEOF for to the end
	pid        uint32
	owner      uint64
	fd         *xlator.FD // taken through; its Release drops the lock
	since      time.Time  // granted, or began waiting
	whole      bool       // a flock lock (in inodeLocks.blocked; the lists say it otherwise)
}

func (l *lock) overlaps(start, end int64) bool { return l.start <= end && start <= l.end }

// touches reports whether l overlaps [start, end] or is adjacent to it.
func (l *lock) touches(start, end int64) bool {
	return l.overlaps(start, end) ||
		l.end != xlator.LockToEOF && l.end+1 == start ||
		end != xlator.LockToEOF && end+1 == l.start
}

// conflicts reports whether l, held by another owner, keeps a lock of
// type typ over [start, end] from being granted.
func (l *lock) conflicts(typ uint32, start, end int64) bool {
	return l.overlaps(start, end) && (typ == xlator.LockWrite || l.typ == xlator.LockWrite)
}

// inodeLocks is one file's state.
type inodeLocks struct {
	posix   []lock  // granted fcntl locks
	flocks  []lock  // granted flock locks
	blocked []*lock // waiting requests, oldest first
	// wake is closed (and replaced) when locks go or shrink while
	// requests wait, so that each tries again.
	wake chan struct{}
}

func (st *inodeLocks) empty() bool {
	return len(st.posix) == 0 && len(st.flocks) == 0 && len(st.blocked) == 0
}

// wakeAll tells the waiting requests that locks changed.
func (st *inodeLocks) wakeAll() {
	if len(st.blocked) > 0 {
		close(st.wake)
		st.wake = make(chan struct{})
	}
}

// Init checks the graph's shape.
func (l *Locks) Init(*xlator.InitContext) error {
	if n := len(l.Children()); n != 1 {
		return fmt.Errorf("locks needs exactly one subvolume, has %d", n)
	}
	l.inodes = make(map[*xlator.Inode]*inodeLocks)
	return nil
}

// stateLocked returns in's state, made if it has none.
func (l *Locks) stateLocked(in *xlator.Inode) *inodeLocks {
	st := l.inodes[in]
	if st == nil {
		st = &inodeLocks{wake: make(chan struct{})}
		l.inodes[in] = st
	}
	return st
}

// tidyLocked drops in's state when it holds nothing.
func (l *Locks) tidyLocked(in *xlator.Inode, st *inodeLocks) {
	if st.empty() {
		delete(l.inodes, in)
	}
}

// Lk gets, places or removes a lock (xlator.Fops.Lk).
func (l *Locks) Lk(c *xlator.Call, fd *xlator.FD, cmd uint32, req *xlator.Flock) (xlator.Flock, error) {
	if !req.Whole && req.Type != xlator.LockUnlock {
		// fcntl(2): a read lock needs a descriptor open for reading, a
		// write lock one open for writing.
		acc := fd.Flags & syscall.O_ACCMODE
		if req.Type == xlator.LockRead && acc == syscall.O_WRONLY || req.Type == xlator.LockWrite && acc == syscall.O_RDONLY {
			return xlator.Flock{}, syscall.EBADF
		}
	}
	owner := c.LkOwner
	var waiting *lock
	for {
		l.mu.Lock()
		st := l.stateLocked(fd.Inode)
		if cmd == xlator.LkGet {
			out := *req
			if g := conflict(st.posix, owner, req.Type, req.Start, req.End); g != nil {
				out = xlator.Flock{Type: g.typ, Start: g.start, End: g.end, Pid: g.pid}
			} else {
				out.Type = xlator.LockUnlock
			}
			l.tidyLocked(fd.Inode, st)
			l.mu.Unlock()
			return out, nil
		}
		if req.Whole && waiting == nil {
			// flock(2) converts by dropping the owner's lock first.
			if i := slices.IndexFunc(st.flocks, func(g lock) bool { return g.owner == owner }); i >= 0 {
				st.flocks = slices.Delete(st.flocks, i, i+1)
				st.wakeAll()
			}
		}
		list := &st.posix
		if req.Whole {
			list = &st.flocks
		}
		if req.Type == xlator.LockUnlock || conflict(*list, owner, req.Type, req.Start, req.End) == nil {
			if req.Whole {
				if req.Type != xlator.LockUnlock {
					st.flocks = append(st.flocks, lock{typ: req.Type, start: 0, end: xlator.LockToEOF,
						pid: req.Pid, owner: owner, fd: fd, since: time.Now()})
				}
			} else {
				st.posix = place(st.posix, lock{typ: req.Type, start: req.Start, end: req.End,
					pid: req.Pid, owner: owner, fd: fd, since: time.Now()})
			}
			if waiting != nil {
				st.dropBlocked(waiting)
			}
			if req.Type == xlator.LockUnlock || !req.Whole {
				// An unlock, and an fcntl lock that replaced part of
				// an exclusive one with a shared one, may let others in.
				st.wakeAll()
			}
			l.tidyLocked(fd.Inode, st)
			l.mu.Unlock()
			if req.Type != xlator.LockUnlock {
				l.granted.Add(1)
			}
			return *req, nil
		}
		if cmd == xlator.LkSet {
			l.tidyLocked(fd.Inode, st)
			l.mu.Unlock()
			l.conflicts.Add(1)
			return xlator.Flock{}, syscall.EAGAIN
		}
		if waiting == nil {
			waiting = &lock{typ: req.Type, start: req.Start, end: req.End, pid: req.Pid, owner: owner, fd: fd,
				since: time.Now(), whole: req.Whole}
			st.blocked = append(st.blocked, waiting)
			l.waits.Add(1)
		}
		wake := st.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-c.Ctx.Done():
			l.mu.Lock()
			st := l.inodes[fd.Inode]
			st.dropBlocked(waiting)
			l.tidyLocked(fd.Inode, st)
			l.mu.Unlock()
			l.interrupted.Add(1)
			return xlator.Flock{}, syscall.EINTR
		}
	}
}

// dropBlocked removes a waiting request.
func (st *inodeLocks) dropBlocked(w *lock) {
	if i := slices.Index(st.blocked, w); i >= 0 {
		st.blocked = slices.Delete(st.blocked, i, i+1)
	}
}

// conflict returns the first lock of list held by another owner than
// owner that keeps a lock of type typ over [start, end] from being
// granted, or nil.
func conflict(list []lock, owner uint64, typ uint32, start, end int64) *lock {
	for i := range list {
		if g := &list[i]; g.owner != owner && g.conflicts(typ, start, end) {
			return g
		}
	}
	return nil
}

// place applies an fcntl lock or unlock of n.owner over [n.start, n.end]
// to list, as POSIX says: the owner's locks it overlaps lose that range
// (split in two when it falls inside one), and unless n unlocks, n is
// added, merged with the owner's locks of its type that it overlaps or
// touches. Other owners' locks are kept as they are.
func place(list []lock, n lock) []lock {
	out := make([]lock, 0, len(list)+2)
	for _, g := range list {
		switch {
		case g.owner != n.owner || !g.touches(n.start, n.end):
			out = append(out, g)
		case g.typ == n.typ && n.typ != xlator.LockUnlock:
			n.start, n.end = min(n.start, g.start), max(n.end, g.end)
		case !g.overlaps(n.start, n.end):
			out = append(out, g) // adjacent, another type
		default:
			if g.start < n.start {
				left := g
				left.end = n.start - 1
				out = append(out, left)
			}
			if g.end > n.end {
				right := g
				right.start = n.end + 1
				out = append(out, right)
			}
		}
	}
	if n.typ != xlator.LockUnlock {
		out = append(out, n)
	}
	return out
}

// Flush drops the fcntl locks the caller's owner holds on the file, then
// passes the flush down.
func (l *Locks) Flush(c *xlator.Call, fd *xlator.FD) error {
	l.mu.Lock()
	if st := l.inodes[fd.Inode]; st != nil {
		n := len(st.posix)
		st.posix = slices.DeleteFunc(st.posix, func(g lock) bool { return g.owner == c.LkOwner })
		if dropped := n - len(st.posix); dropped > 0 {
			l.flushed.Add(uint64(dropped))
			st.wakeAll()
		}
		l.tidyLocked(fd.Inode, st)
	}
	l.mu.Unlock()
	return l.FirstChild().Flush(c, fd)
}

// Release drops every lock taken through fd.
func (l *Locks) Release(fd *xlator.FD) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.inodes[fd.Inode]
	if st == nil {
		return
	}
	n := len(st.posix) + len(st.flocks)
	through := func(g lock) bool { return g.fd == fd }
	st.posix = slices.DeleteFunc(st.posix, through)
	st.flocks = slices.DeleteFunc(st.flocks, through)
	if dropped := n - len(st.posix) - len(st.flocks); dropped > 0 {
		l.released.Add(uint64(dropped))
		st.wakeAll()
	}
	l.tidyLocked(fd.Inode, st)
}
