package plugin

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// Host is the translator of a plugin volume in the host's graph. Its fops
// go to the plugin process; the plugin's children are Host's children,
// which the plugin reaches through the callback service Host serves.
//
// Host starts the plugin at Init and stops it at Fini. When the plugin
// dies, fops in flight and new ones fail with ENOTCONN, Host sends
// child-down to its parents, restarts the plugin with back-off and sends
// child-up once it is running again.
type Host struct {
	rpc.Remote

	path         string
	sum          string
	backoff      time.Duration
	backoffMax   time.Duration
	startTimeout time.Duration
	callTimeout  time.Duration
	opts         xlator.Options

	shmSlots int
	fds      *rpc.HandleTable // host fds (weak) and fds made for the plugin (owned)
	inodes   *rpc.HandleTable // unlinked inodes lent to the plugin for one call
	// owned counts the fds the plugin opened in the host, of maxFds;
	// refusedFds the opens refused beyond; breaches the plugin processes
	// killed for breaking the protocol.
	owned      atomic.Int64
	maxFds     int64
	refusedFds atomic.Uint64
	breaches   atomic.Uint64

	inst atomic.Pointer[instance]

	mu       sync.Mutex
	state    string // see the state* constants
	restarts int
	lastExit string
	parentUp bool
	childUp  []bool
	stop     chan struct{}
	loops    sync.WaitGroup

	notifyMu sync.Mutex // orders the up/down notifications Host sends
	upSent   bool

	// deadline.go: calls that ran out of call-timeout, the pings that
	// followed, and those the plugin did not answer.
	timeouts, pings, pingsUnanswered atomic.Uint64
}

// The states Dump reports.
const (
	stateStarting   = "starting"
	stateRunning    = "running"
	stateRestarting = "restarting"
	stateStopped    = "stopped"
)

var _ xlator.Xlator = (*Host)(nil)

func newHost() *Host {
	h := &Host{fds: rpc.NewHandleTable(), inodes: rpc.NewHandleTable(), state: stateStarting, stop: make(chan struct{})}
	h.Mapper = (*hostMapper)(h)
	return h
}

// Init starts the plugin process and its graph.
func (h *Host) Init(ic *xlator.InitContext) error {
	o := ic.Options
	h.path, h.sum = o.String("path"), o.String("sha256")
	h.backoff, h.backoffMax = o.Duration("restart-backoff"), o.Duration("restart-backoff-max")
	h.startTimeout = o.Duration("start-timeout")
	h.callTimeout = o.Duration("call-timeout")
	if h.callTimeout == 0 {
		h.callTimeout = transport.DefaultCallTimeout
	}
	h.shmSlots = int(o.Size("shm-size") / transport.ShmSlotSize)
	if h.backoff == 0 {
		h.backoff = 100 * time.Millisecond
	}
	if h.backoffMax < h.backoff {
		h.backoffMax = h.backoff
	}
	if h.startTimeout == 0 {
		h.startTimeout = 10 * time.Second
	}
	h.opts = o
	h.maxFds = fdLimit()
	h.childUp = make([]bool, len(h.Children()))
	inst, err := h.start()
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.state = stateRunning
	h.mu.Unlock()
	h.inst.Store(inst)
	h.Logger().Info("plugin started", zap.String("path", h.path), zap.Int("pid", inst.pid))
	return nil
}

// Fini stops the plugin: its graph first (Fini over the protocol), then
// the process.
func (h *Host) Fini() {
	h.mu.Lock()
	if h.state == stateStopped {
		h.mu.Unlock()
		return
	}
	h.state = stateStopped
	close(h.stop)
	h.mu.Unlock()
	h.loops.Wait()
	if inst := h.inst.Swap(nil); inst != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = inst.c.Ctl.Fini(ctx, &pb.Empty{})
		cancel()
		inst.kill()
	}
	h.dropOwned()
}

// Notify keeps Host up exactly when the plugin runs and every child is up;
// children's events are also passed to the plugin, whose proxies pass them
// to the plugin's translator.
func (h *Host) Notify(ev xlator.Event, from xlator.Xlator) {
	switch ev {
	case xlator.EventParentUp:
		h.mu.Lock()
		h.parentUp = true
		h.mu.Unlock()
		for _, c := range h.Children() {
			c.Notify(xlator.EventParentUp, h.Self())
		}
		h.update()
	case xlator.EventParentDown:
		h.mu.Lock()
		h.parentUp = false
		h.mu.Unlock()
		for _, c := range h.Children() {
			c.Notify(xlator.EventParentDown, h.Self())
		}
	case xlator.EventChildUp, xlator.EventChildDown:
		i := -1
		for j, c := range h.Children() {
			if c == from {
				i = j
			}
		}
		if i < 0 {
			return
		}
		h.mu.Lock()
		h.childUp[i] = ev == xlator.EventChildUp
		h.mu.Unlock()
		if inst := h.inst.Load(); inst != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = inst.c.Ctl.Notify(ctx, &pb.NotifyReq{Event: int32(ev), Child: uint32(i)})
			cancel()
		}
		h.update()
	}
}

// update sends child-up or child-down to the parents when Host's state
// changed.
func (h *Host) update() {
	h.notifyMu.Lock()
	defer h.notifyMu.Unlock()
	h.mu.Lock()
	up := h.parentUp && h.state == stateRunning
	for _, u := range h.childUp {
		up = up && u
	}
	h.mu.Unlock()
	if up == h.upSent {
		return
	}
	h.upSent = up
	if up {
		h.NotifyParents(xlator.EventChildUp)
	} else {
		h.NotifyParents(xlator.EventChildDown)
	}
}

// Up reports whether Host has told its parents it is up.
func (h *Host) Up() bool {
	h.notifyMu.Lock()
	defer h.notifyMu.Unlock()
	return h.upSent
}

// Restarts returns how many times the plugin was restarted.
func (h *Host) Restarts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.restarts
}

// Pid returns the plugin process's pid, 0 when none runs.
func (h *Host) Pid() int {
	if inst := h.inst.Load(); inst != nil {
		return inst.pid
	}
	return 0
}

// Dump reports the process (pid, state, restarts), the protocol version
// it speaks, whether it shares the arena ("arena": "shared", or "off: "
// and why), and the plugin's own statistics (its translator's state,
// mem-pools, iobuf pool) under "plugin.".
func (h *Host) Dump() []xlator.KV {
	h.mu.Lock()
	kvs := []xlator.KV{
		{Key: "path", Value: h.path},
		{Key: "state", Value: h.state},
		{Key: "restarts", Value: h.restarts},
		{Key: "call-timeout", Value: h.callTimeout.String()},
		{Key: "calls-timed-out", Value: h.timeouts.Load()},
		{Key: "pings", Value: h.pings.Load()},
		{Key: "pings-unanswered", Value: h.pingsUnanswered.Load()},
	}
	if h.lastExit != "" {
		kvs = append(kvs, xlator.KV{Key: "last-exit", Value: h.lastExit})
	}
	h.mu.Unlock()
	kvs = append(kvs, xlator.KV{Key: "pid", Value: h.Pid()}, xlator.KV{Key: "handles", Value: h.fds.Len()},
		xlator.KV{Key: "plugin-fds", Value: h.owned.Load()}, xlator.KV{Key: "plugin-fds-refused", Value: h.refusedFds.Load()},
		xlator.KV{Key: "protocol-breaches", Value: h.breaches.Load()})
	inst := h.inst.Load()
	if inst == nil {
		return kvs
	}
	kvs = append(kvs, xlator.KV{Key: "protocol", Value: inst.version}, xlator.KV{Key: "arena", Value: inst.arenaUse})
	if a := h.shm(); a != nil {
		st := a.Stats()
		a.Release()
		kvs = append(kvs, xlator.KV{Key: "shm-slots", Value: st.Slots}, xlator.KV{Key: "shm-slots-in-use", Value: st.SlotsInUse},
			xlator.KV{Key: "ring-calls", Value: st.Calls[transport.ToPlugin]},
			xlator.KV{Key: "ring-calls-in-use", Value: st.CallsInUse[transport.ToPlugin]},
			xlator.KV{Key: "ring-retries", Value: st.Retries[transport.ToPlugin]},
			xlator.KV{Key: "ring-caller-sleeps", Value: st.CallerSleeps[transport.ToPlugin]},
			xlator.KV{Key: "grpc-fop-calls", Value: st.GRPCCalls[transport.ToPlugin]},
			xlator.KV{Key: "ring-callbacks-served", Value: st.Served[transport.ToHost]},
			xlator.KV{Key: "ring-callbacks-run-by-caller", Value: st.Helped[transport.ToHost]},
			xlator.KV{Key: "ring-worker-sleeps", Value: st.WorkerSleeps[transport.ToHost]},
			xlator.KV{Key: "ring-late-wakes", Value: st.LateWakes[transport.ToHost]},
			xlator.KV{Key: "host-iobufs-kept-by-plugin", Value: st.HostKept},
			xlator.KV{Key: "host-lends-refused", Value: st.HostLendsRefused})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rsp, err := inst.c.Ctl.Stats(ctx, &pb.StatsReq{})
	if err != nil {
		return append(kvs, xlator.KV{Key: "plugin", Value: fmt.Sprintf("unable to dump: %v", err)})
	}
	for _, kv := range rsp.Kvs {
		kvs = append(kvs, xlator.KV{Key: "plugin." + kv.Key, Value: kv.Value})
	}
	return kvs
}

// Release tells the plugin that a host fd is gone.
func (h *Host) Release(fd *xlator.FD) { h.release(fd, false) }

// Releasedir is Release for a directory fd.
func (h *Host) Releasedir(fd *xlator.FD) { h.release(fd, true) }

func (h *Host) release(fd *xlator.FD, dir bool) {
	handle, ok := fd.DelCtx(h).(uint64)
	if !ok {
		return
	}
	h.fds.Remove(handle)
	inst := h.inst.Load()
	if inst == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &pb.FdReq{H: &pb.Header{}, Fd: &pb.Fd{Handle: handle, Dir: dir}}
	if dir {
		_, _ = inst.c.Fops.Releasedir(ctx, req)
	} else {
		_, _ = inst.c.Fops.Release(ctx, req)
	}
}

// Forget tells the plugin that an inode it knows is gone.
func (h *Host) Forget(in *xlator.Inode) {
	if in.DelCtx(h) == nil || in.GFID().IsZero() {
		return
	}
	inst := h.inst.Load()
	if inst == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = inst.c.Fops.Forget(ctx, &pb.ForgetReq{Gfids: [][]byte{rpc.GfidBytes(in.GFID())}})
}

// The mapper of Host's fops.

func (h *Host) client() (pb.XlatorClient, error) {
	if inst := h.inst.Load(); inst != nil {
		return inst.c.Fops, nil
	}
	return nil, syscall.ENOTCONN
}

// known marks, in Host's inode slot, an inode the plugin has been told
// about, so that Forget tells it when the inode goes.
type known struct{}

func (h *Host) loc(l *xlator.Loc) *pb.Loc {
	if l == nil {
		return nil
	}
	pl := &pb.Loc{Name: l.Name, GfidReq: rpc.GfidBytes(l.GfidReq)}
	if l.Parent != nil {
		pl.Parent = rpc.GfidBytes(l.Parent.GFID())
		h.mark(l.Parent)
	}
	if in := l.Inode; in != nil {
		h.mark(in)
		pl.Type = in.Type()
		if g := in.GFID(); g.IsZero() {
			pl.Inode = h.inodes.Add(rpc.HandleEnt{Inode: in})
		} else {
			pl.Gfid = rpc.GfidBytes(g)
		}
	}
	return pl
}

func (h *Host) mark(in *xlator.Inode) {
	if in.Ctx(h) == nil {
		in.SetCtx(h, known{})
	}
}

func (h *Host) fd(fd *xlator.FD) transport.FD {
	handle, ok := fd.Ctx(h).(uint64)
	if !ok {
		handle = h.fdHandle(fd)
	}
	return transport.FD{Handle: handle, Gfid: fd.Inode.GFID(), Type: fd.Inode.Type(), Flags: fd.Flags, Pid: fd.Pid, Dir: fd.IsDir()}
}

// fdHandle gives a host fd its handle, once.
func (h *Host) fdHandle(fd *xlator.FD) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if handle, ok := fd.Ctx(h).(uint64); ok {
		return handle
	}
	handle := h.fds.Add(rpc.HandleEnt{FD: fd})
	fd.SetCtx(h, handle)
	h.mark(fd.Inode)
	return handle
}

func (h *Host) shm() *transport.Arena {
	if inst := h.inst.Load(); inst != nil && inst.shm.Acquire() {
		return inst.shm
	}
	return nil
}

func (h *Host) done(handle uint64) { h.inodes.Remove(handle) }

// dropOwned releases the fds the host made for a plugin that is gone.
func (h *Host) dropOwned() {
	owned := h.fds.TakeOwned()
	h.owned.Add(-int64(len(owned)))
	for _, fd := range owned {
		fd.Unref()
	}
}

// fdLimit is how many fds a plugin may keep open in the host: a quarter
// of the host's open file limit, so that a plugin that opens without
// releasing runs out long before the host does.
func fdLimit() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 16
	}
	return max(int64(rl.Cur)/4, 64)
}

// callback is the endpoint of the host's callback service: requests from
// the plugin's proxies to Host's children.
// There is one per plugin process, with that process's arena.
type callback struct {
	h     *Host
	arena *transport.Arena
}

func (cb *callback) Arena() *transport.Arena {
	if cb.arena.Acquire() {
		return cb.arena
	}
	return nil
}

func (cb *callback) Graph() *xlator.Graph { return cb.h.Graph() }

func (cb *callback) Target(hd *pb.Header) (xlator.Xlator, error) {
	ch := cb.h.Children()
	var i uint32
	if hd != nil {
		i = hd.Child
	}
	if int(i) >= len(ch) {
		return nil, syscall.ENXIO
	}
	return ch[i], nil
}

func (cb *callback) NewInode(g *xlator.Graph, handle uint64) *xlator.Inode {
	if handle != 0 {
		if in := cb.h.inodes.Inode(handle); in != nil {
			return in
		}
	}
	return g.Inodes().New()
}

func (cb *callback) FD(g *xlator.Graph, pf *pb.Fd, in *xlator.Inode) (*xlator.FD, error) {
	if pf.Handle != 0 {
		if fd := cb.h.fds.FD(pf.Handle); fd != nil {
			return fd, nil
		}
		return nil, syscall.EBADF
	}
	// An fd the plugin opened itself (registered by opened), or an
	// anonymous one for a single fop.
	if in != nil && cb.h.owned.Load() >= cb.h.maxFds {
		cb.h.refusedFds.Add(1)
		return nil, syscall.EMFILE
	}
	if in == nil {
		gf := rpc.GfidOf(pf.Gfid)
		if gf.IsZero() {
			return nil, syscall.EBADF
		}
		t := g.Inodes()
		if in = t.Find(gf); in == nil {
			ia := xlator.Iatt{Gfid: gf, Mode: pf.Type}
			in = t.Link(nil, nil, "", &ia)
		}
		defer in.Unref()
	}
	return g.NewFD(in, pf.Flags, pf.Pid, pf.Dir), nil
}

func (cb *callback) Opened(fd *xlator.FD, pf *pb.Fd) uint64 {
	if pf.Handle != 0 {
		return pf.Handle
	}
	cb.h.owned.Add(1)
	return cb.h.fds.Add(rpc.HandleEnt{FD: fd.Ref(), Owned: true})
}

func (cb *callback) Linked(*xlator.Inode) {}
func (cb *callback) FrontEnd() bool       { return false }
func (cb *callback) Forget([][]byte)      {}

func (cb *callback) Release(handle uint64, _ bool) {
	if e, ok := cb.h.fds.Remove(handle); ok && e.Owned {
		cb.h.owned.Add(-1)
		e.FD.Unref()
	} else if ok {
		cb.h.fds.Put(handle, e) // a host fd: only the host releases it
	}
}
