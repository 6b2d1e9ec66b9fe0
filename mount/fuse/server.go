package fuse

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// maxBackground is how many asynchronous requests (readahead, async
// reads) the kernel keeps in flight: enough to keep a few goroutines per
// core busy, as GlusterFS's background-qlen default (64) does.
const maxBackground = 64

// Server is a mounted graph. Its methods are safe for concurrent use.
type Server struct {
	b   *bridge
	srv *fuse.Server // go-fuse's server, or
	c   *conn        // xstack's own reader loop (root mounts)
	mp  string
	log *zap.Logger
	// note says why a mount that asked for io-uring is served through
	// /dev/fuse by go-fuse's loop (conn keeps its own).
	note string

	done chan struct{} // closed when Serve has returned and cleaned up

	mu sync.Mutex // serialises Unmount
}

// Mount checks the mount point, mounts g's top there and serves FUSE
// requests on their own goroutines until Unmount (or an external
// umount). It returns once the kernel has answered the first request, so
// the mount is usable. The graph must be started and outlive the mount.
//
// The mount point must exist, be a directory, be empty
// (ErrMountPointNotEmpty) and not be a mount point already
// (ErrMountPointBusy). Root mounts with mount(2) directly; anyone else
// through fusermount.
func Mount(g *xlator.Graph, cfg Config) (*Server, error) {
	if g == nil {
		return nil, errors.New("fuse: Mount needs a graph")
	}
	cfg = cfg.withDefaults()
	if cfg.Transport != TransportDevFuse && cfg.Transport != TransportIOUring {
		return nil, fmt.Errorf("fuse: unknown transport %q (use %q or %q)", cfg.Transport, TransportDevFuse, TransportIOUring)
	}
	if cfg.WritebackCache && cfg.Passthrough {
		return nil, errors.New("fuse: passthrough and writeback-cache exclude each other: the kernel either keeps a file's writes in its page cache or sends them to the backing file; choose one")
	}
	log := cfg.Logger
	if log == nil {
		log = g.Env().Logger
	}
	log = log.Named("fuse")
	mp, err := checkMountPoint(cfg.MountPoint)
	if err != nil {
		return nil, err
	}
	b := newBridge(g, cfg, log)
	opts := &fuse.MountOptions{
		MaxWrite:      cfg.MaxWrite,
		MaxBackground: maxBackground,
		// Writes then need no GETXATTR security.capability round trip
		// each; the bridge drops privileges itself (privs.go).
		ExtraCapabilities: fuse.CAP_HANDLE_KILLPRIV_V2 | writebackCap(cfg),
		AllowOther:        cfg.AllowOther,
		// Locks go to the graph when it keeps them (locks.go).
		EnableLocks: g.KeepsLocks(),
		FsName:      cfg.FSName,
		Name:        "xstack",
		Debug:       cfg.Debug,
		Logger:      zap.NewStdLog(log),
		PanicHandler: func(v any) fuse.Status {
			log.Error("panic serving a FUSE request; replying EIO", zap.Any("panic", v), zap.Stack("stack"))
			return fuse.EIO
		},
	}
	// Root mounts and unmounts with mount(2) and umount(2) alone, so that
	// an unmount refused as busy says EBUSY; anyone else goes through
	// fusermount.
	if os.Geteuid() == 0 {
		opts.DirectMountStrict = true
	} else {
		opts.DirectMount = true
	}
	if cfg.DefaultPermissions {
		opts.Options = append(opts.Options, "default_permissions")
	}
	if os.Geteuid() == 0 && !cfg.GoFuseLoop && os.Getenv("XSTACK_FUSE_LOOP") != "go-fuse" {
		return mountOwn(b, mp, opts, cfg, log)
	}
	var note string
	if cfg.Transport == TransportIOUring {
		note = "io-uring needs xstack's own loop: a root mount without GoFuseLoop"
		log.Warn("FUSE over io_uring is not available; serving through /dev/fuse", zap.String("reason", note))
	}
	srv, err := fuse.NewServer(b, mp, opts)
	if err != nil {
		if aerr := Available(); aerr != nil {
			return nil, fmt.Errorf("fuse: mount %s: %w (%v)", mp, aerr, err)
		}
		return nil, fmt.Errorf("fuse: mount %s: %w", mp, err)
	}
	s := &Server{b: b, srv: srv, mp: mp, log: log, note: note, done: make(chan struct{})}
	go func() {
		srv.Serve() // returns after the bridge's OnUnmount released what the kernel held
		close(s.done)
	}()
	if err := srv.WaitMount(); err != nil {
		_ = s.Unmount()
		return nil, fmt.Errorf("fuse: mount %s: the kernel did not answer: %w", mp, err)
	}
	s.mounted(cfg)
	return s, nil
}

// mountOwn mounts with mount(2) and serves with conn's reader loop.
func mountOwn(b *bridge, mp string, opts *fuse.MountOptions, cfg Config, log *zap.Logger) (*Server, error) {
	c, err := mountConn(b, mp, opts, cfg.Transport, log)
	if err != nil {
		if aerr := Available(); aerr != nil {
			return nil, fmt.Errorf("fuse: mount %s: %w (%v)", mp, aerr, err)
		}
		return nil, fmt.Errorf("fuse: mount %s: %w", mp, err)
	}
	s := &Server{b: b, c: c, mp: mp, log: log, done: c.done}
	if c.transportNote != "" {
		log.Warn("FUSE over io_uring is not available; serving through /dev/fuse", zap.String("reason", c.transportNote))
	}
	s.mounted(cfg)
	return s, nil
}

// dumpSection names the mount's statedump section, as GlusterFS names its
// fuse bridge's.
const dumpSection = "xlator.mount.fuse.priv"

// mounted finishes a mount: the readahead, the statedump section (until
// the mount ends) and the log line.
func (s *Server) mounted(cfg Config) {
	var k kernel = goFuseKernel{s.srv}
	if s.c != nil {
		k = s.c
	}
	s.b.startNotifier(k)
	s.b.startPassthrough(k)
	env := s.b.g.Env()
	env.AddSection(dumpSection, s.dumpKVs)
	go func() {
		<-s.done
		env.RemoveSection(dumpSection)
	}()
	if cfg.ReadAhead > 0 {
		if err := SetReadAhead(s.mp, cfg.ReadAhead); err != nil {
			s.log.Warn("cannot set the mount's readahead; sequential reads use the kernel's default", zap.Int("read_ahead", cfg.ReadAhead), zap.Error(err))
		}
	}
	s.log.Info("mounted", zap.String("mountpoint", s.mp), zap.Int("max_write", cfg.MaxWrite), zap.Int("read_ahead", cfg.ReadAhead),
		zap.Bool("default_permissions", cfg.DefaultPermissions), zap.Bool("allow_other", cfg.AllowOther), zap.Bool("own_loop", s.c != nil), zap.String("transport", s.transport()))
}

// dumpKVs is the statedump section: the request counters and, with
// xstack's own loop, its workers.
func (s *Server) dumpKVs() []xlator.KV {
	st := s.Stats()
	loop := "go-fuse"
	if st.Loop != nil {
		loop = "xstack"
	}
	kvs := []xlator.KV{
		{Key: "mountpoint", Value: s.mp},
		{Key: "loop", Value: loop},
		{Key: "transport", Value: st.Transport},
		{Key: "requests", Value: st.Requests},
		{Key: "errors", Value: st.Errors},
		{Key: "bytes-read", Value: st.BytesRead},
		{Key: "bytes-written", Value: st.BytesWritten},
		{Key: "xattr-shortcuts", Value: st.XattrShortcuts},
		{Key: "nodes", Value: st.Nodes},
		{Key: "inode-lru-limit", Value: s.b.cfg.InodeLRULimit},
		{Key: "open-handles", Value: st.Handles},
		{Key: "inval-inodes", Value: st.InvalInodes},
		{Key: "inval-entries", Value: st.InvalEntries},
		{Key: "lru-shrinks", Value: st.Shrinks},
		{Key: "notify-errors", Value: st.NotifyErrors},
		{Key: "writeback-cache", Value: s.b.writeback},
		{Key: "passthrough", Value: s.b.pt.on.Load()},
		{Key: "passthrough-opens", Value: st.PassthroughOpens},
		{Key: "passthrough-refused", Value: st.PassthroughRefused},
		{Key: "passthrough-files", Value: st.PassthroughFiles},
	}
	if s.b.pt.on.Load() {
		kvs = append(kvs, xlator.KV{Key: "passthrough-note", Value: "the kernel reads and writes passthrough files itself: their bytes are in no fop statistics"})
	}
	for _, o := range st.Ops {
		if o.Count > 0 {
			kvs = append(kvs, xlator.KV{Key: "op." + o.Op, Value: o.Count})
		}
		if o.Errors > 0 {
			kvs = append(kvs, xlator.KV{Key: "op." + o.Op + ".errors", Value: o.Errors})
		}
	}
	if st.TransportNote != "" {
		kvs = append(kvs, xlator.KV{Key: "transport-fallback", Value: st.TransportNote})
	}
	if r := st.Ring; r != nil {
		kvs = append(kvs,
			xlator.KV{Key: "ring.queues", Value: r.Queues},
			xlator.KV{Key: "ring.entries", Value: r.Entries},
			xlator.KV{Key: "ring.requests", Value: r.Requests},
			xlator.KV{Key: "ring.hand-offs", Value: r.HandOffs},
		)
	}
	if l := st.Loop; l != nil {
		kvs = append(kvs,
			xlator.KV{Key: "loop.workers", Value: l.Workers},
			xlator.KV{Key: "loop.reading", Value: l.Reading},
			xlator.KV{Key: "loop.serving", Value: l.Serving},
			xlator.KV{Key: "loop.parked", Value: l.Parked},
			xlator.KV{Key: "loop.requests", Value: l.Requests},
			xlator.KV{Key: "loop.handoffs", Value: l.Handoffs},
			xlator.KV{Key: "loop.spawned", Value: l.Spawned},
			xlator.KV{Key: "loop.unparked", Value: l.Unparked},
			xlator.KV{Key: "loop.parks", Value: l.Parks},
			xlator.KV{Key: "loop.stalls", Value: l.Stalls},
			xlator.KV{Key: "loop.interrupts", Value: l.Interrupts},
		)
	}
	return kvs
}

// MountPoint returns the absolute path of the mount.
func (s *Server) MountPoint() string { return s.mp }

// Unmount unmounts and waits until every request has been answered and
// the bridge has released what the kernel still held (open files,
// lookups), so the graph's fd and inode counts return to where they were
// before the mount. It fails (EBUSY) while a process uses the mount (an
// open file, a working directory) and may then be retried. Once the file
// system is unmounted, by this or by an external umount, it returns nil.
func (s *Server) Unmount() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	default:
	}
	var err error
	if s.c != nil {
		err = s.c.unmount()
	} else {
		err = s.srv.Unmount()
	}
	if err != nil {
		select {
		case <-s.done: // unmounted from outside meanwhile
			return nil
		default:
		}
		return fmt.Errorf("fuse: unmount %s: %w", s.mp, err)
	}
	<-s.done
	s.log.Info("unmounted", zap.String("mountpoint", s.mp))
	return nil
}

// Wait blocks until the file system is unmounted, by Unmount or by an
// external umount, and the bridge has cleaned up.
func (s *Server) Wait() { <-s.done }

// Stats returns a snapshot of the mount's request statistics.
func (s *Server) Stats() Stats {
	st := s.b.stats.snapshot()
	st.Nodes = s.b.nodes.count()
	st.Handles = s.b.handles.count()
	if n := s.b.notifier.Load(); n != nil {
		st.InvalInodes, st.InvalEntries = n.invalInodes.Load(), n.invalEntries.Load()
		st.Shrinks, st.NotifyErrors = n.shrinks.Load(), n.failed.Load()
	}
	st.PassthroughOpens, st.PassthroughRefused = s.b.pt.opens.Load(), s.b.pt.refused.Load()
	st.PassthroughFiles = s.b.pt.files.Load()
	if s.c != nil {
		ls := s.c.loopStats()
		st.Loop = &ls
		st.TransportNote = s.c.transportNote
		if s.c.rings != nil {
			rs := s.c.rings.stats()
			st.Ring = &rs
		}
	}
	st.Transport = s.transport()
	if s.c == nil {
		st.TransportNote = s.note
	}
	return st
}

// transport names the transport serving the mount: io-uring when its
// queues carry requests (FORGETs and INTERRUPTs still come through
// /dev/fuse), else dev-fuse.
func (s *Server) transport() string {
	if s.c != nil && s.c.rings != nil {
		return TransportIOUring
	}
	return TransportDevFuse
}

// SpareProcs raises GOMAXPROCS to four per CPU unless the GOMAXPROCS
// environment variable fixes it, and returns the new value. A daemon
// serving a mount calls it once at start.
//
// go-fuse's request readers sit in a blocking read(2) on /dev/fuse, and a
// goroutine in a blocking system call keeps its P. With one P per CPU the
// waiting readers (go-fuse keeps one spare beside each busy one) hold
// every P, so the runtime's sysmon takes them back every 20 µs and wakes
// spare threads to run them, only for those to find nothing to do: on
// this project's 2-CPU machines a 4 KiB O_DIRECT random read cost the
// daemon 3.3 context switches and 75 µs of CPU, against GlusterFS's 1.95
// and 53 µs. With spare Ps sysmon leaves blocked readers alone: 2.5 and
// 62 µs. The extra Ps cost nothing while idle; the Go scheduler still
// runs no more threads at once than there is work for.
func SpareProcs() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	if n := 4 * runtime.NumCPU(); n > runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}

// yieldEvery is how often a request handler yields its P (see
// yieldSometimes).
const yieldEvery = time.Millisecond

var (
	yieldEpoch = time.Now()
	nextYield  atomic.Int64 // nanoseconds since yieldEpoch
)

// yieldSometimes calls runtime.Gosched once per yieldEvery across all
// request handlers. go-fuse's readers never go through the scheduler: a
// reader goroutine blocks in read(2), handles the request and blocks
// again, so its P's scheduling tick never moves, and after 10 ms sysmon
// takes such a P "to preempt a long-running goroutine", which resets
// sysmon to polling every 20 µs (about a tenth of the daemon's CPU
// samples under a QD1 random read). One yield per millisecond moves the
// ticks and lets sysmon sleep: 2.45 → 2.2 context switches and 62.6 →
// 57.5 µs of daemon CPU per 4 KiB O_DIRECT read here (GlusterFS: 1.95 and
// 55 µs). Yielding on every request instead costs more than it saves:
// with idle Ps each Gosched wakes a thread.
func yieldSometimes() {
	now := int64(time.Since(yieldEpoch))
	if next := nextYield.Load(); now >= next && nextYield.CompareAndSwap(next, now+int64(yieldEvery)) {
		runtime.Gosched()
	}
}

// bdiPath is the sysfs file holding the readahead of the mount at mp: a
// FUSE mount has a backing device info named after its anonymous device
// number.
func bdiPath(mp string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(mp, &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev)), nil
}

// SetReadAhead sets the kernel's readahead on the mount at mp to n bytes.
func SetReadAhead(mp string, n int) error {
	p, err := bdiPath(mp)
	if err != nil {
		return err
	}
	return os.WriteFile(p, []byte(strconv.Itoa((n+1023)/1024)), 0)
}

// writebackCap is the INIT capability Config.WritebackCache asks for.
func writebackCap(cfg Config) uint64 {
	if cfg.WritebackCache {
		return fuse.CAP_WRITEBACK_CACHE
	}
	return 0
}
