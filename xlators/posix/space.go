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

// space keeps the brick's free space for the reserve check: a statfs at
// most every spaceRefresh, minus the bytes written since, so a burst of
// writes cannot overrun the reserve between two statfs calls while the
// common case costs two atomic loads.
type space struct {
	fd      int // the brick root
	reserve int64

	mu       sync.Mutex // serialises refreshes
	at       atomic.Int64
	freeB    atomic.Int64 // bytes available to unprivileged users at the last refresh
	written  atomic.Int64 // bytes written since
	failures atomic.Int64
}

func (s *space) init(fd int, reserve int64) {
	s.fd, s.reserve = fd, reserve
}

// free returns the free bytes: the last statfs minus what was written
// since, refreshing the statfs when it is older than spaceRefresh.
func (s *space) free() (int64, error) {
	now := time.Now().UnixNano()
	if now-s.at.Load() >= int64(spaceRefresh) {
		s.mu.Lock()
		if now-s.at.Load() >= int64(spaceRefresh) {
			var st unix.Statfs_t
			if err := unix.Fstatfs(s.fd, &st); err != nil {
				s.mu.Unlock()
				s.failures.Add(1)
				return 0, err
			}
			s.freeB.Store(int64(st.Bavail) * st.Bsize)
			s.written.Store(0)
			s.at.Store(now)
		}
		s.mu.Unlock()
	}
	return s.freeB.Load() - s.written.Load(), nil
}

// check fails with ENOSPC when n more bytes would leave less than the
// reserve free. Without a reserve it costs nothing.
func (s *space) check(n int64) error {
	if s.reserve <= 0 {
		return nil
	}
	f, err := s.free()
	if err != nil {
		return err
	}
	if f-n < s.reserve {
		return syscall.ENOSPC
	}
	return nil
}

// wrote records n bytes written since the last statfs.
func (s *space) wrote(n int64) {
	if s.reserve > 0 && n > 0 {
		s.written.Add(n)
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
	if p.reserve > 0 && frsize > 0 {
		r := (uint64(p.reserve) + frsize - 1) / frsize
		v.Bfree -= min(v.Bfree, r)
		v.Bavail -= min(v.Bavail, r)
	}
	return v, nil
}
