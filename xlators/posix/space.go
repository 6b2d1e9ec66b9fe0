package posix

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// spaceRefresh is how old the cached free-space figure may get.
const spaceRefresh = time.Second

// space keeps the brick's free space for the reserve check. The figure is
// a statfs at most every spaceRefresh, minus the bytes written since and
// the bytes reserved by writes in flight, so that:
//
//   - a writer reserves what it may allocate before it writes (reserve),
//     atomically against every other writer: a burst of concurrent writes
//     cannot all pass the check and then overrun the reserve together;
//   - a fop that frees space (unlink, rmdir, rename over a file, a
//     shrinking truncate, punch hole, discard) marks the figure stale, so
//     the next check sees the freed space at once instead of up to
//     spaceRefresh later;
//   - the common case costs a few atomic operations.
type space struct {
	fd      int // the brick root
	reserve int64
	statfs  func(fd int, st *unix.Statfs_t) error // unix.Fstatfs; tests replace it

	mu       sync.Mutex   // serialises refreshes
	at       atomic.Int64 // unix ns of the last statfs; 0: stale
	freeB    atomic.Int64 // bytes available to unprivileged users at the last refresh
	written  atomic.Int64 // bytes written since
	pending  atomic.Int64 // bytes reserved by writes in flight
	failures atomic.Int64
}

func (s *space) init(fd int, reserve int64) {
	s.fd, s.reserve = fd, reserve
	if s.statfs == nil {
		s.statfs = unix.Fstatfs
	}
}

// free returns the free bytes: the last statfs minus what was written and
// is reserved since, refreshing the statfs when it is older than
// spaceRefresh or stale.
func (s *space) free() (int64, error) {
	now := time.Now().UnixNano()
	if now-s.at.Load() >= int64(spaceRefresh) {
		s.mu.Lock()
		if now-s.at.Load() >= int64(spaceRefresh) {
			// Writes that complete during the statfs count twice (in
			// the statfs and in written) until the next refresh: on
			// the safe side.
			w := s.written.Load()
			var st unix.Statfs_t
			if err := s.statfs(s.fd, &st); err != nil {
				s.mu.Unlock()
				s.failures.Add(1)
				return 0, err
			}
			s.freeB.Store(int64(st.Bavail) * st.Bsize)
			s.written.Add(-w)
			s.at.Store(now)
		}
		s.mu.Unlock()
	}
	return s.freeB.Load() - s.written.Load() - s.pending.Load(), nil
}

// take fails with ENOSPC when n more bytes would leave less than the
// reserve free; otherwise it holds n bytes for the caller, who must call
// done once the bytes are written (or not). Without a reserve it costs
// nothing.
func (s *space) take(n int64) error {
	if s.reserve <= 0 {
		return nil
	}
	for {
		f, err := s.free()
		if err != nil {
			return err
		}
		if f-n < s.reserve {
			return syscall.ENOSPC
		}
		p := s.pending.Load()
		// Another writer that reserved since free() read pending makes
		// the swap fail: look again with its bytes counted.
		if s.pending.CompareAndSwap(p, p+n) {
			return nil
		}
	}
}

// done ends a reservation of n bytes of which used were allocated.
func (s *space) done(n, used int64) {
	if s.reserve <= 0 {
		return
	}
	if used > 0 {
		s.written.Add(used)
	}
	s.pending.Add(-n)
}

// check fails with ENOSPC when the free space is already below the
// reserve (for fops that allocate little: creates, links).
func (s *space) check() error {
	if err := s.take(0); err != nil {
		return err
	}
	s.done(0, 0)
	return nil
}

// freed marks the figure stale after a fop that may have freed space.
func (s *space) freed() {
	if s.reserve > 0 {
		s.at.Store(0)
	}
}

// Statfs reports the brick's file system with the reserve taken out of the
// free and available blocks (not below zero).
func (p *Posix) Statfs(c *xlator.Call, loc *xlator.Loc) (xlator.Statvfs, error) {
	if err := p.up(); err != nil {
		return xlator.Statvfs{}, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(p.root.fd, &st); err != nil {
		return xlator.Statvfs{}, err
	}
	frsize := uint64(st.Frsize)
	if frsize == 0 {
		frsize = uint64(st.Bsize)
	}
	v := xlator.Statvfs{Bsize: uint64(st.Bsize), Frsize: frsize, Blocks: st.Blocks, Bfree: st.Bfree,
		Bavail: st.Bavail, Files: st.Files, Ffree: st.Ffree, Favail: st.Ffree, Namemax: uint64(st.Namelen)}
	var rst unix.Stat_t
	if unix.Fstat(p.root.fd, &rst) == nil {
		v.Fsid = rst.Dev
	}
	if p.reserve > 0 && frsize > 0 {
		r := (uint64(p.reserve) + frsize - 1) / frsize
		v.Bfree -= min(v.Bfree, r)
		v.Bavail -= min(v.Bavail, r)
	}
	return v, nil
}
