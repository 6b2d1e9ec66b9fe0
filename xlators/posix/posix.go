package posix

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/xlator"
)

// internalDir is the brick's private directory at its root: it holds the
// health-check file and is hidden from listings and lookups.
const internalDir = ".xstack"

// healthFile is the file the health check writes inside internalDir.
const healthFile = "health"

// fsyncMode is the value of the fsync option.
type fsyncMode int

const (
	fsyncNormal fsyncMode = iota
	fsyncData
	fsyncNone
)

// Posix is the bottom translator: it stores the volume's files in a brick
// directory. See the package documentation for the model.
//
// Every fop is safe for concurrent use.
type Posix struct {
	xlator.Base

	dir        string
	odirect    bool
	reserve    int64
	fsync      fsyncMode
	interval   time.Duration
	gfidKey    string // trusted.xstack.gfid, or user.xstack.gfid when not root
	privileged bool   // running as root: chown, trusted.* xattrs
	umask      uint32 // the process umask, read at Init
	readOnly   bool   // xlator.Env.ReadOnly: change nothing in the brick
	lockFd     int    // the flocked lock file (brick.go), -1 when none

	root  *handle // the brick root, O_PATH|O_DIRECTORY
	store store   // the gfid handle store (store.go)

	space space
	data  dataPath
	ra    *readAhead // nil when read-ahead is off
	copy  copier     // copy.go

	fdPool  *mempool.Pool[fileCtx]
	dirPool *mempool.Pool[dirCtx]
	iovPool *mempool.Pool[iovScratch]
	names   *slab.Cache // see names.go

	openFiles   atomic.Int64
	openDirs    atomic.Int64
	closeErrors atomic.Int64 // close(2) failures at Release, logged

	handlesMu sync.Mutex
	handles   map[*handle]struct{} // directory handles held in inode contexts

	health health
}

var _ xlator.Xlator = (*Posix)(nil)

// Init opens the brick directory, takes its lock (one owning stack per
// brick) and prepares the translator from its options. It fails when the
// directory is missing (and may not be created), is not a directory, is
// owned by another stack (a *BusyError), or cannot hold extended
// attributes.
func (p *Posix) Init(ic *xlator.InitContext) error {
	o := ic.Options
	p.lockFd = -1
	p.readOnly = ic.Env.ReadOnly
	p.dir = o.String("directory")
	if p.dir == "" {
		return fmt.Errorf("option directory is required: set it to the brick directory")
	}
	p.odirect = o.Bool("o-direct")
	p.reserve = o.Size("reserve")
	switch o.String("fsync") {
	case "data":
		p.fsync = fsyncData
	case "none":
		p.fsync = fsyncNone
		p.Logger().Warn("fsync = none: fsync is ignored; data acknowledged as durable may be lost in a crash")
	default:
		p.fsync = fsyncNormal
	}
	p.interval = 30 * time.Second
	if o.Has("health-check-interval") {
		p.interval = o.Duration("health-check-interval")
	}
	p.privileged = os.Geteuid() == 0
	p.gfidKey = gfidKeyTrusted
	if !p.privileged {
		p.gfidKey = gfidKeyUser
	}
	old := unix.Umask(0)
	unix.Umask(old)
	p.umask = uint32(old)

	create := !o.Has("create-directory") || o.Bool("create-directory")
	if err := p.openBrick(create && !ic.Env.NoCreate && !p.readOnly); err != nil {
		return err
	}
	p.handles = map[*handle]struct{}{}
	if err := p.lock(); err != nil {
		p.root.release()
		return err
	}
	if err := p.initRootGfid(); err != nil {
		p.unlock()
		p.root.release()
		return fmt.Errorf("brick directory %s: %w", p.dir, err)
	}
	if err := p.store.openStore(p); err != nil {
		p.unlock()
		p.root.release()
		return fmt.Errorf("brick directory %s: gfid store %s/%s: %w (%s)", p.dir, internalDir, storeDir, err, brickCause(err))
	}

	env := p.Env()
	p.fdPool = mempool.New[fileCtx](env.Pools, p.Name(), "fd-ctx", 256)
	p.dirPool = mempool.New[dirCtx](env.Pools, p.Name(), "dir-ctx", 64)
	p.iovPool = mempool.New[iovScratch](env.Pools, p.Name(), "iovec", 64)
	if err := p.newNames(); err != nil {
		p.store.close()
		p.unlock()
		p.root.release()
		return err
	}
	p.space.init(p.root.fd, p.reserve)
	p.data = directPath{p: p}
	if o.String("data-path") == "bio" {
		bp, err := newBioPath(p)
		if err != nil {
			p.store.close()
			p.unlock()
			p.root.release()
			return fmt.Errorf("data-path = bio: %w", err)
		}
		p.data = bp
		if w := o.Size("read-ahead"); w > 0 {
			p.ra = newReadAhead(p, bp, w, max(o.Size("read-ahead-total"), int64(raChunkSize(w))))
		}
	} else if o.Size("read-ahead") > 0 {
		p.Logger().Info("read-ahead is off: it needs data-path = bio")
	}
	p.health.init(p)
	p.Logger().Info("brick ready", zap.String("directory", p.dir), zap.Bool("o-direct", p.odirect),
		zap.Int64("reserve", p.reserve), zap.String("gfid-xattr", p.gfidKey))
	return nil
}

// openBrick opens the brick directory, creating it (and its missing
// parents) first when create is set.
func (p *Posix) openBrick(create bool) error {
	fd, err := unix.Open(p.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == syscall.ENOENT && create {
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			return fmt.Errorf("create brick directory %s: %w", p.dir, err)
		}
		p.Logger().Info("created the brick directory (create-directory = true)", zap.String("directory", p.dir))
		fd, err = unix.Open(p.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	switch {
	case err == syscall.ENOENT && !create:
		return fmt.Errorf("brick directory %s does not exist: check the path, or create it (mkdir -p %s), or set create-directory = true and start the volume with xstack run or mount (file commands never create bricks)", p.dir, p.dir)
	case err == syscall.ENOTDIR:
		return fmt.Errorf("brick directory %s is not a directory", p.dir)
	case err != nil:
		return fmt.Errorf("open brick directory %s: %w", p.dir, err)
	}
	p.root = newHandle(fd)
	return nil
}

// initRootGfid stamps the brick root with RootGFID, or checks it.
func (p *Posix) initRootGfid() error {
	g, err := p.readGfid(p.root.fd)
	if err == nil {
		if g != xlator.RootGFID {
			return fmt.Errorf("root carries gfid %s in %s, not the root gfid: is it a directory of another brick?", g, p.gfidKey)
		}
		return nil
	}
	if err == syscall.ENODATA && p.readOnly {
		return nil // the root's gfid is known without it
	}
	if err != syscall.ENODATA {
		return fmt.Errorf("read %s: %w (%s)", p.gfidKey, err, brickCause(err))
	}
	if err := p.writeGfid(p.root.fd, xlator.RootGFID, 0); err != nil {
		return fmt.Errorf("set %s: %w (%s)", p.gfidKey, err, brickCause(err))
	}
	return nil
}

// Fini stops the health check, closes the brick and every directory handle
// still cached, and destroys the translator's pools.
func (p *Posix) Fini() {
	p.health.stop()
	p.handlesMu.Lock()
	for h := range p.handles {
		h.closeNow()
	}
	p.handles = map[*handle]struct{}{}
	p.handlesMu.Unlock()
	p.store.close()
	p.unlock()
	if p.root != nil {
		p.root.release()
	}
	if p.data != nil {
		p.data.close()
	}
	p.closeNames()
	if p.fdPool != nil {
		p.fdPool.Destroy()
		p.dirPool.Destroy()
		p.iovPool.Destroy()
	}
}

// Notify answers parent-up with child-up only when the brick is usable, and
// starts the health check; other events behave as in Base.
func (p *Posix) Notify(ev xlator.Event, from xlator.Xlator) {
	switch ev {
	case xlator.EventParentUp:
		if err := p.checkBrick(); err != nil {
			p.Logger().Error("brick is not usable; not reporting child-up", zap.Error(err))
			p.health.reportDown(err)
			p.health.start()
			return
		}
		p.health.reportUp()
		p.health.start()
	case xlator.EventParentDown:
		p.health.stop()
		p.Base.Notify(ev, from)
	default:
		p.Base.Notify(ev, from)
	}
}

// Dump returns the brick's state for the statedump.
func (p *Posix) Dump() []xlator.KV {
	p.handlesMu.Lock()
	nh := len(p.handles)
	p.handlesMu.Unlock()
	free, _ := p.space.free()
	kv := []xlator.KV{
		{Key: "directory", Value: p.dir},
		{Key: "o-direct", Value: p.odirect},
		{Key: "reserve", Value: p.reserve},
		{Key: "free-bytes", Value: free},
		{Key: "fsync", Value: [...]string{"normal", "data", "none"}[p.fsync]},
		{Key: "gfid-xattr", Value: p.gfidKey},
		{Key: "open-fds", Value: p.openFiles.Load()},
		{Key: "open-dir-fds", Value: p.openDirs.Load()},
		{Key: "close-errors", Value: p.closeErrors.Load()},
		{Key: "dir-handles", Value: nh},
		{Key: "health", Value: p.health.state()},
		{Key: "health-check-interval", Value: p.interval.String()},
		{Key: "data-path", Value: p.data.name()},
		{Key: "gfid-store.resolved", Value: p.store.stats.resolved.Load()},
		{Key: "gfid-store.stale", Value: p.store.stats.stale.Load()},
		{Key: "gfid-store.repaired", Value: p.store.stats.repaired.Load()},
		{Key: "gfid-store.errors", Value: p.store.stats.errors.Load()},
		{Key: "gfid-store.open-unlinked", Value: p.store.openUnlinkedCount()},
	}
	if bp, ok := p.data.(*bioPath); ok {
		kv = append(kv, xlator.KV{Key: "bio-section", Value: bp.section()})
	}
	kv = append(kv, p.copy.dump()...)
	if p.ra != nil {
		kv = append(kv, xlator.KVsOf("read-ahead", p.ra.stats())...)
	} else {
		kv = append(kv, xlator.KV{Key: "read-ahead.window", Value: 0})
	}
	return kv
}

// trackHandle records a directory handle cached in an inode context, so
// Fini can close those whose inodes were never forgotten.
func (p *Posix) trackHandle(h *handle, add bool) {
	p.handlesMu.Lock()
	if add {
		p.handles[h] = struct{}{}
	} else {
		delete(p.handles, h)
	}
	p.handlesMu.Unlock()
}

// Forget closes the directory handle cached on the inode.
func (p *Posix) Forget(in *xlator.Inode) {
	if h, ok := in.DelCtx(p).(*handle); ok && h != nil {
		p.trackHandle(h, false)
		h.release()
	}
}

// up returns EIO while the health check reports the brick as failed.
func (p *Posix) up() error {
	if p.health.down.Load() {
		return syscall.EIO
	}
	return nil
}
