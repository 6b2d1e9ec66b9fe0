package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	goplugin "github.com/hashicorp/go-plugin"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/xlator"
)

// Serve runs the translator type t as a plugin: the main function of a
// plugin binary calls it and nothing else. t is written exactly as an
// in-process translator (embed xlator.Base, override fops, wind to
// Children()); its children are the host's subvolumes, reached through the
// host's callback service. Serve returns only if the binary was not
// started by a host (it then prints a message and exits with status 1).
//
// Run with the single argument SchemaFlag, the binary prints t's schema
// file on stdout and exits 0, or exits 1 when a default in t's schema
// does not parse. Its installer publishes it where the host's loader
// looks, beside the binary: bin -xstack-schema > bin.schema.json
// (host.SchemaFile).
//
// The plugin logs through its Logger() as usual; the lines go to the
// host's log under the volume's name.
func Serve(t xlator.Type) {
	if len(os.Args) == 2 && os.Args[1] == transport.SchemaFlag {
		if err := writeSchema(os.Stdout, t); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	lvl := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	// os.Stderr is captured before go-plugin redirects it: the original
	// stderr is the pipe whose JSON lines the host parses as logs.
	log := rpc.PluginLogger(os.Stderr, lvl)
	p := newPluginSide(t, log, lvl)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: rpc.Handshake(),
		// One version: the host picks it from the versions it offers,
		// or refuses the plugin naming both (ErrProtocolVersion).
		VersionedPlugins: map[int]goplugin.PluginSet{transport.ProtocolVersion: {transport.PluginName: &rpc.GRPCPlugin{Serve: p.register}}},
		GRPCServer:       rpc.NewGRPCServer,
		Logger:           rpc.NewZapHCLog(log.Named("go-plugin")),
	})
}

// writeSchema writes t's schema file (the host's SchemaFile) to w, for
// the running executable.
func writeSchema(w io.Writer, t xlator.Type) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	sum, err := rpc.FileSum(exe)
	if err != nil {
		return err
	}
	return rpc.WriteSchema(w, t, sum)
}

// pluginSide is the plugin process: the Control service, and the endpoint
// of the Xlator service over the plugin's own graph.
type pluginSide struct {
	pb.UnimplementedControlServer
	typ    xlator.Type
	log    *zap.Logger
	lvl    zap.AtomicLevel
	broker *goplugin.GRPCBroker
	fops   *rpc.Server

	mu    sync.Mutex // serialises Init and Fini
	state atomic.Pointer[pluginState]
	fds   *rpc.HandleTable // keyed by the host's handles
	pins  rpc.Pins         // inodes the host named, until it forgets them
	done  chan struct{}    // closed by Fini

	// arena is the shared memory with the host, mapped at Init (nil
	// without), and arenaFile its descriptor, kept open for the life of
	// the process (a dropped *os.File would close it when collected).
	arena     *transport.Arena
	arenaFile *os.File
}

// pluginState is the running graph of an initialised plugin.
type pluginState struct {
	g       *xlator.Graph
	top     xlator.Xlator
	proxies []*proxy
	cc      *grpc.ClientConn
}

func newPluginSide(t xlator.Type, log *zap.Logger, lvl zap.AtomicLevel) *pluginSide {
	p := &pluginSide{typ: t, log: log, lvl: lvl, fds: rpc.NewHandleTable(), done: make(chan struct{})}
	p.fops = rpc.NewServer(p)
	return p
}

func (p *pluginSide) register(b *goplugin.GRPCBroker, s *grpc.Server) {
	p.broker = b
	pb.RegisterControlServer(s, p)
	pb.RegisterXlatorServer(s, p.fops)
}

// Schema answers with the type's option schema.
func (p *pluginSide) Schema(context.Context, *pb.SchemaReq) (*pb.SchemaRsp, error) {
	return &pb.SchemaRsp{Name: p.typ.Name, Doc: p.typ.Doc, Options: rpc.SchemaTo(p.typ.Options),
		MinChildren: int32(p.typ.MinChildren), MaxChildren: int32(p.typ.MaxChildren)}, nil
}

// Init builds and starts the plugin's graph: the translator on top, one
// proxy per host child below it.
func (p *pluginSide) Init(ctx context.Context, q *pb.InitReq) (*pb.InitRsp, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Load() != nil {
		return nil, fmt.Errorf("plugin already initialised")
	}
	t := p.typ
	if n := len(q.Children); n < t.MinChildren || (t.MaxChildren >= 0 && n > t.MaxChildren) {
		return nil, fmt.Errorf("type %q takes %d to %d subvolumes, the volume has %d", t.Name, t.MinChildren, t.MaxChildren, n)
	}
	p.lvl.SetLevel(zapcore.Level(q.LogLevel))
	rsp := &pb.InitRsp{Arena: pb.ArenaUse_ARENA_MAPPED}
	if err := p.mapArena(q); err != nil {
		rsp.Arena, rsp.ArenaError = pb.ArenaUse_ARENA_UNMAPPED, err.Error()
		if q.ShmSlots > 0 {
			p.log.Warn("cannot map the shared memory arena the host offers; every fop and its data go in gRPC messages", zap.Error(err))
		}
	}
	cc, err := p.broker.DialWithOptions(q.CallbackBrokerId, rpc.DialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("dial the host's callback service: %w", err)
	}
	var cb pb.XlatorClient = pb.NewXlatorClient(cc)
	if p.arena != nil {
		cb = pb.NewXlatorClient(transport.NewConn(cc, p.arena, transport.ToHost, nil))
	}

	reg := xlator.NewRegistry()
	if err := reg.Register(t); err != nil {
		cc.Close()
		return nil, err
	}
	reg.MustRegister(xlator.Type{Name: proxyType, New: func() xlator.Xlator { return newProxy(cb, 0) }})
	spec := &xlator.Spec{Source: "<plugin " + t.Name + ">", Top: q.Volume}
	spec.Volumes = append(spec.Volumes, xlator.VolumeSpec{Name: q.Volume, Type: t.Name, Subvolumes: q.Children,
		Options: rpc.OptionsFrom(q.Options), LogLevel: zapcore.Level(q.LogLevel)})
	for _, c := range q.Children {
		spec.Volumes = append(spec.Volumes, xlator.VolumeSpec{Name: c, Type: proxyType, Options: xlator.NewOptions(),
			LogLevel: zapcore.Level(q.LogLevel)})
	}
	pool, err := iobuf.New(iobuf.Config{Logger: p.log.Named("iobuf")})
	if err != nil {
		cc.Close()
		return nil, err
	}
	pool.Start()
	env := &xlator.Env{Logger: p.log, Pools: mempool.NewRegistry(p.log.Named("mempool")), Iobufs: pool, Slabs: slab.NewRegistry()}
	g, err := xlator.New(spec, reg, env)
	if err != nil {
		cc.Close()
		return nil, err
	}
	st := &pluginState{g: g, top: g.Top(), cc: cc}
	for i, c := range q.Children {
		px := xlator.Unwrap(g.Xlator(c)).(*proxy)
		px.Child = uint32(i)
		px.arena = p.arena
		st.proxies = append(st.proxies, px)
	}
	if err := g.Init(); err != nil {
		cc.Close()
		return nil, err
	}
	for i, px := range st.proxies {
		px.hostUp.Store(i < len(q.ChildrenUp) && q.ChildrenUp[i])
	}
	// Start sends parent-up through the graph synchronously; the top
	// comes up when the host's children do, which the host reports later
	// through Notify (at a first start they are not up yet: the host
	// starts the plugin from its Init, before parent-up). So Start is not
	// waited for: its context is already done.
	done, cancel := context.WithCancel(ctx)
	cancel()
	_ = g.Start(done)
	p.state.Store(st)
	p.log.Debug("plugin graph started", zap.String("volume", q.Volume), zap.Strings("children", q.Children))
	return rsp, nil
}

// mapArena maps the arena q offers and serves its ring, or says why it
// did not: the answer to Init tells the host (protocol 5), which then
// names no slot to this process and makes every call by gRPC.
func (p *pluginSide) mapArena(q *pb.InitReq) error {
	if p.arena != nil {
		return nil // mapped by an Init that failed after
	}
	if q.ShmSlots == 0 {
		return errors.New("the host offers none")
	}
	if v := os.Getenv(transport.ShmEnv); v != strconv.Itoa(transport.ShmFD) {
		return fmt.Errorf("%s=%q: the host passed no arena on fd %d", transport.ShmEnv, v, transport.ShmFD)
	}
	f := os.NewFile(transport.ShmFD, "xstack-arena")
	a, err := transport.MapArena(f, int(q.ShmSlots), int(q.ShmSlotSize))
	if err != nil {
		f.Close()
		return err
	}
	p.arenaFile, p.arena = f, a
	a.SetPeerMaps()
	// Garbage in the rings here is this process's own doing (the host
	// checks what it reads, transport's breach.go): exit, and the host
	// restarts it with a new arena.
	a.OnBreach(func(why string) {
		p.log.Error("the shared memory with the host holds garbage; exiting", zap.String("breach", why))
		os.Exit(3)
	})
	if mem, err := transport.MapHostMem(); err != nil {
		p.log.Warn("the host's iobufs are not shared; writev data is copied into the arena", zap.Error(err))
	} else if mem != nil {
		a.UseHostMem(mem)
	}
	a.Serve(transport.ToPlugin, p.fops)
	return nil
}

// Fini stops the graph; the host stops the process afterwards.
func (p *pluginSide) Fini(context.Context, *pb.Empty) (*pb.Empty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state.Swap(nil)
	if st == nil {
		return &pb.Empty{}, nil
	}
	for _, e := range p.fds.Drain() {
		if e.Owned {
			e.FD.Unref()
		}
	}
	st.g.Stop()
	st.cc.Close()
	st.g.Env().Pools.Stop()
	st.g.Env().Iobufs.Stop()
	return &pb.Empty{}, nil
}

// Notify passes a host child's child-up or child-down to its proxy.
func (p *pluginSide) Notify(_ context.Context, q *pb.NotifyReq) (*pb.Empty, error) {
	st := p.state.Load()
	if st != nil && int(q.Child) < len(st.proxies) {
		st.proxies[q.Child].hostEvent(xlator.Event(q.Event))
	}
	return &pb.Empty{}, nil
}

// Stats answers with the plugin's statistics as statedump lines: its
// translators' private state, its mem-pools and its iobuf pool.
func (p *pluginSide) Stats(context.Context, *pb.StatsReq) (*pb.StatsRsp, error) {
	rsp := &pb.StatsRsp{Pid: int64(os.Getpid())}
	st := p.state.Load()
	if st == nil {
		return rsp, nil
	}
	add := func(k string, v any) { rsp.Kvs = append(rsp.Kvs, &pb.KV{Key: k, Value: fmt.Sprint(v)}) }
	for _, xi := range st.g.Xlators() {
		if xi.Type == proxyType {
			continue
		}
		for _, kv := range xi.Private {
			add("xlator."+kv.Key, kv.Value)
		}
		for _, f := range xi.Stats.Fops {
			add("fop."+f.Fop+".count", f.Count)
			add("fop."+f.Fop+".errors", f.Errors)
		}
	}
	env := st.g.Env()
	for _, ps := range env.Pools.Pools() {
		for _, kv := range ps.Fields()[1:] {
			add("mempool."+ps.Name+"."+kv.Key, kv.Value)
		}
	}
	env.Iobufs.Stats().Fields(func(k string, v any) { add("iobuf."+k, v) })
	add("fds", strconv.Itoa(p.fds.Len()))
	if a := p.arena; a != nil {
		st := a.Stats()
		add("ring.served", st.Served[transport.ToPlugin])
		add("ring.worker-sleeps", st.WorkerSleeps[transport.ToPlugin])
		add("ring.late-wakes", st.LateWakes[transport.ToPlugin])
		add("ring.callbacks", st.Calls[transport.ToHost])
		add("ring.callback-retries", st.Retries[transport.ToHost])
		add("ring.callback-sleeps", st.CallerSleeps[transport.ToHost])
		add("ring.grpc-callbacks", st.GRPCCalls[transport.ToHost])
		add("ring.host-memory-writes", st.HostMemWrites)
	}
	return rsp, nil
}

// Watch blocks until the host goes away: a host learns that the plugin
// died when this stream breaks.
func (p *pluginSide) Watch(_ *pb.WatchReq, s grpc.ServerStreamingServer[pb.WatchRsp]) error {
	select {
	case <-s.Context().Done():
	case <-p.done:
	}
	return nil
}

// Ping answers at once.
func (p *pluginSide) Ping(context.Context, *pb.Empty) (*pb.Empty, error) { return &pb.Empty{}, nil }

// The endpoint of the Xlator service.

func (p *pluginSide) Graph() *xlator.Graph {
	if st := p.state.Load(); st != nil {
		return st.g
	}
	return nil
}

func (p *pluginSide) Target(*pb.Header) (xlator.Xlator, error) {
	if st := p.state.Load(); st != nil {
		return st.top, nil
	}
	return nil, syscall.ENOTCONN
}

func (p *pluginSide) NewInode(g *xlator.Graph, handle uint64) *xlator.Inode {
	in := g.Inodes().New()
	if handle != 0 {
		if st := p.state.Load(); st != nil {
			for _, px := range st.proxies {
				in.SetCtx(px, handle)
			}
		}
	}
	return in
}

// FD returns the plugin's fd for the host's handle, making it on first
// use: at the Open, Create or Opendir that the host allocated the handle
// for, or, after a restart of the plugin, at the first fop on an fd the
// host opened before (the translator then sees fops on an fd it never
// opened, as GlusterFS's anonymous fds).
func (p *pluginSide) FD(g *xlator.Graph, pf *pb.Fd, in *xlator.Inode) (*xlator.FD, error) {
	if pf.Handle != 0 {
		if fd := p.fds.FD(pf.Handle); fd != nil {
			return fd, nil
		}
	}
	if in == nil {
		gf := rpc.GfidOf(pf.Gfid)
		if gf.IsZero() {
			return nil, syscall.EBADF
		}
		t := g.Inodes()
		in = t.Find(gf)
		if in == nil {
			ia := xlator.Iatt{Gfid: gf, Mode: pf.Type}
			in = t.Link(nil, nil, "", &ia)
			p.pins.Pin(in)
		}
		defer in.Unref()
	}
	fd := g.NewFD(in, pf.Flags, pf.Pid, pf.Dir)
	if pf.Handle == 0 {
		return fd, nil // anonymous: dropped after the request
	}
	if st := p.state.Load(); st != nil {
		ref := &fdRef{handle: pf.Handle}
		for _, px := range st.proxies {
			fd.SetCtx(px, ref)
		}
	}
	if cur, ok := p.fds.Put(pf.Handle, rpc.HandleEnt{FD: fd, Owned: true}); !ok {
		fd.Unref()
		return cur.FD.Ref(), nil
	}
	return fd.Ref(), nil
}

func (p *pluginSide) Arena() *transport.Arena {
	if p.arena.Acquire() {
		return p.arena
	}
	return nil
}

func (p *pluginSide) Opened(_ *xlator.FD, pf *pb.Fd) uint64 { return pf.Handle }
func (p *pluginSide) Linked(in *xlator.Inode)               { p.pins.Pin(in) }
func (p *pluginSide) FrontEnd() bool                        { return true }

func (p *pluginSide) Release(h uint64, _ bool) {
	if e, ok := p.fds.Remove(h); ok && e.Owned {
		e.FD.Unref()
	}
}

func (p *pluginSide) Forget(gfids [][]byte) {
	for _, g := range gfids {
		p.pins.Unpin(rpc.GfidOf(g))
	}
}
