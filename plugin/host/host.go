package host

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

// Plugin is the translator of a plugin volume in the host's graph. Its fops
// go to the plugin process; the plugin's children are Plugin's children,
// which the plugin reaches through the callback service Plugin serves.
//
// Plugin starts the plugin at Init and stops it at Fini. When the plugin
// dies, fops in flight and new ones fail with ENOTCONN, Plugin sends
// child-down to its parents, restarts the plugin with back-off and sends
// child-up once it is running again.
type Plugin struct {
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

var _ xlator.Xlator = (*Plugin)(nil)

func newPlugin() *Plugin {
	p := &Plugin{fds: rpc.NewHandleTable(), inodes: rpc.NewHandleTable(), state: stateStarting, stop: make(chan struct{})}
	p.Mapper = (*mapper)(p)
	return p
}

// Init starts the plugin process and its graph.
func (p *Plugin) Init(ic *xlator.InitContext) error {
	o := ic.Options
	p.path, p.sum = o.String("path"), o.String("sha256")
	p.backoff, p.backoffMax = o.Duration("restart-backoff"), o.Duration("restart-backoff-max")
	p.startTimeout = o.Duration("start-timeout")
	p.callTimeout = o.Duration("call-timeout")
	if p.callTimeout == 0 {
		p.callTimeout = transport.DefaultCallTimeout
	}
	p.shmSlots = int(o.Size("shm-size") / transport.ShmSlotSize)
	if p.backoff == 0 {
		p.backoff = 100 * time.Millisecond
	}
	if p.backoffMax < p.backoff {
		p.backoffMax = p.backoff
	}
	if p.startTimeout == 0 {
		p.startTimeout = 10 * time.Second
	}
	p.opts = o
	p.maxFds = fdLimit()
	p.childUp = make([]bool, len(p.Children()))
	inst, err := p.start()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.state = stateRunning
	p.mu.Unlock()
	p.inst.Store(inst)
	p.Logger().Info("plugin started", zap.String("path", p.path), zap.Int("pid", inst.pid))
	return nil
}

// Fini stops the plugin: its graph first (Fini over the protocol), then
// the process.
func (p *Plugin) Fini() {
	p.mu.Lock()
	if p.state == stateStopped {
		p.mu.Unlock()
		return
	}
	p.state = stateStopped
	close(p.stop)
	p.mu.Unlock()
	p.loops.Wait()
	if inst := p.inst.Swap(nil); inst != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = inst.c.Ctl.Fini(ctx, &pb.Empty{})
		cancel()
		inst.kill()
	}
	p.dropOwned()
}

// Notify keeps Plugin up exactly when the plugin runs and every child is up;
// children's events are also passed to the plugin, whose proxies pass them
// to the plugin's translator.
func (p *Plugin) Notify(ev xlator.Event, from xlator.Xlator) {
	switch ev {
	case xlator.EventParentUp:
		p.mu.Lock()
		p.parentUp = true
		p.mu.Unlock()
		for _, c := range p.Children() {
			c.Notify(xlator.EventParentUp, p.Self())
		}
		p.update()
	case xlator.EventParentDown:
		p.mu.Lock()
		p.parentUp = false
		p.mu.Unlock()
		for _, c := range p.Children() {
			c.Notify(xlator.EventParentDown, p.Self())
		}
	case xlator.EventChildUp, xlator.EventChildDown:
		i := -1
		for j, c := range p.Children() {
			if c == from {
				i = j
			}
		}
		if i < 0 {
			return
		}
		p.mu.Lock()
		p.childUp[i] = ev == xlator.EventChildUp
		p.mu.Unlock()
		if inst := p.inst.Load(); inst != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = inst.c.Ctl.Notify(ctx, &pb.NotifyReq{Event: int32(ev), Child: uint32(i)})
			cancel()
		}
		p.update()
	}
}

// update sends child-up or child-down to the parents when Plugin's state
// changed.
func (p *Plugin) update() {
	p.notifyMu.Lock()
	defer p.notifyMu.Unlock()
	p.mu.Lock()
	up := p.parentUp && p.state == stateRunning
	for _, u := range p.childUp {
		up = up && u
	}
	p.mu.Unlock()
	if up == p.upSent {
		return
	}
	p.upSent = up
	if up {
		p.NotifyParents(xlator.EventChildUp)
	} else {
		p.NotifyParents(xlator.EventChildDown)
	}
}

// Up reports whether Plugin has told its parents it is up.
func (p *Plugin) Up() bool {
	p.notifyMu.Lock()
	defer p.notifyMu.Unlock()
	return p.upSent
}

// Restarts returns how many times the plugin was restarted.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Pid returns the plugin process's pid, 0 when none runs.
func (p *Plugin) Pid() int {
	if inst := p.inst.Load(); inst != nil {
		return inst.pid
	}
	return 0
}

// Dump reports the process (pid, state, restarts), the protocol version
// it speaks, whether it shares the arena ("arena": "shared", or "off: "
// and why), and the plugin's own statistics (its translator's state,
// mem-pools, iobuf pool) under "plugin.".
func (p *Plugin) Dump() []xlator.KV {
	p.mu.Lock()
	kvs := []xlator.KV{
		{Key: "path", Value: p.path},
		{Key: "state", Value: p.state},
		{Key: "restarts", Value: p.restarts},
		{Key: "call-timeout", Value: p.callTimeout.String()},
		{Key: "calls-timed-out", Value: p.timeouts.Load()},
		{Key: "pings", Value: p.pings.Load()},
		{Key: "pings-unanswered", Value: p.pingsUnanswered.Load()},
	}
	if p.lastExit != "" {
		kvs = append(kvs, xlator.KV{Key: "last-exit", Value: p.lastExit})
	}
	p.mu.Unlock()
	kvs = append(kvs, xlator.KV{Key: "pid", Value: p.Pid()}, xlator.KV{Key: "handles", Value: p.fds.Len()},
		xlator.KV{Key: "plugin-fds", Value: p.owned.Load()}, xlator.KV{Key: "plugin-fds-refused", Value: p.refusedFds.Load()},
		xlator.KV{Key: "protocol-breaches", Value: p.breaches.Load()})
	inst := p.inst.Load()
	if inst == nil {
		return kvs
	}
	kvs = append(kvs, xlator.KV{Key: "protocol", Value: inst.version}, xlator.KV{Key: "arena", Value: inst.arenaUse})
	if a := p.shm(); a != nil {
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
func (p *Plugin) Release(fd *xlator.FD) { p.release(fd, false) }

// Releasedir is Release for a directory fd.
func (p *Plugin) Releasedir(fd *xlator.FD) { p.release(fd, true) }

func (p *Plugin) release(fd *xlator.FD, dir bool) {
	handle, ok := fd.DelCtx(p).(uint64)
	if !ok {
		return
	}
	p.fds.Remove(handle)
	inst := p.inst.Load()
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
func (p *Plugin) Forget(in *xlator.Inode) {
	if in.DelCtx(p) == nil || in.GFID().IsZero() {
		return
	}
	inst := p.inst.Load()
	if inst == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = inst.c.Fops.Forget(ctx, &pb.ForgetReq{Gfids: [][]byte{rpc.GfidBytes(in.GFID())}})
}

// The mapper of Plugin's fops.

func (p *Plugin) client() (pb.XlatorClient, error) {
	if inst := p.inst.Load(); inst != nil {
		return inst.c.Fops, nil
	}
	return nil, syscall.ENOTCONN
}

// known marks, in Plugin's inode slot, an inode the plugin has been told
// about, so that Forget tells it when the inode goes.
type known struct{}

func (p *Plugin) loc(l *xlator.Loc) *pb.Loc {
	if l == nil {
		return nil
	}
	pl := &pb.Loc{Name: l.Name, GfidReq: rpc.GfidBytes(l.GfidReq)}
	if l.Parent != nil {
		pl.Parent = rpc.GfidBytes(l.Parent.GFID())
		p.mark(l.Parent)
	}
	if in := l.Inode; in != nil {
		p.mark(in)
		pl.Type = in.Type()
		if g := in.GFID(); g.IsZero() {
			pl.Inode = p.inodes.Add(rpc.HandleEnt{Inode: in})
		} else {
			pl.Gfid = rpc.GfidBytes(g)
		}
	}
	return pl
}

func (p *Plugin) mark(in *xlator.Inode) {
	if in.Ctx(p) == nil {
		in.SetCtx(p, known{})
	}
}

func (p *Plugin) fd(fd *xlator.FD) transport.FD {
	handle, ok := fd.Ctx(p).(uint64)
	if !ok {
		handle = p.fdHandle(fd)
	}
	return transport.FD{Handle: handle, Gfid: fd.Inode.GFID(), Type: fd.Inode.Type(), Flags: fd.Flags, Pid: fd.Pid, Dir: fd.IsDir()}
}

// fdHandle gives a host fd its handle, once.
func (p *Plugin) fdHandle(fd *xlator.FD) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if handle, ok := fd.Ctx(p).(uint64); ok {
		return handle
	}
	handle := p.fds.Add(rpc.HandleEnt{FD: fd})
	fd.SetCtx(p, handle)
	p.mark(fd.Inode)
	return handle
}

func (p *Plugin) shm() *transport.Arena {
	if inst := p.inst.Load(); inst != nil && inst.shm.Acquire() {
		return inst.shm
	}
	return nil
}

func (p *Plugin) done(handle uint64) { p.inodes.Remove(handle) }

// dropOwned releases the fds the host made for a plugin that is gone.
func (p *Plugin) dropOwned() {
	owned := p.fds.TakeOwned()
	p.owned.Add(-int64(len(owned)))
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
// the plugin's proxies to Plugin's children.
// There is one per plugin process, with that process's arena.
type callback struct {
	p     *Plugin
	arena *transport.Arena
}

func (cb *callback) Arena() *transport.Arena {
	if cb.arena.Acquire() {
		return cb.arena
	}
	return nil
}

func (cb *callback) Graph() *xlator.Graph { return cb.p.Graph() }

func (cb *callback) Target(hd *pb.Header) (xlator.Xlator, error) {
	ch := cb.p.Children()
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
		if in := cb.p.inodes.Inode(handle); in != nil {
			return in
		}
	}
	return g.Inodes().New()
}

func (cb *callback) FD(g *xlator.Graph, pf *pb.Fd, in *xlator.Inode) (*xlator.FD, error) {
	if pf.Handle != 0 {
		if fd := cb.p.fds.FD(pf.Handle); fd != nil {
			return fd, nil
		}
		return nil, syscall.EBADF
	}
	// An fd the plugin opened itself (registered by opened), or an
	// anonymous one for a single fop.
	if in != nil && cb.p.owned.Load() >= cb.p.maxFds {
		cb.p.refusedFds.Add(1)
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
	cb.p.owned.Add(1)
	return cb.p.fds.Add(rpc.HandleEnt{FD: fd.Ref(), Owned: true})
}

func (cb *callback) Linked(*xlator.Inode) {}
func (cb *callback) FrontEnd() bool       { return false }
func (cb *callback) Forget([][]byte)      {}

func (cb *callback) Release(handle uint64, _ bool) {
	if e, ok := cb.p.fds.Remove(handle); ok && e.Owned {
		cb.p.owned.Add(-1)
		e.FD.Unref()
	} else if ok {
		cb.p.fds.Put(handle, e) // a host fd: only the host releases it
	}
}
