package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// ErrChecksum is returned (wrapped, naming the binary and both sums) when
// a plugin binary does not match the sha256 its volume gives.
var ErrChecksum = errors.New("plugin binary does not match its sha256")

// instance is one running plugin process.
type instance struct {
	client  *goplugin.Client
	c       *rpc.Conn
	pid     int
	proc    *os.Process // started by client; signalled by its pidfd
	version int         // the protocol version the plugin speaks
	// shm is the arena the plugin mapped; nil when it runs without one
	// (arenaUse says why).
	shm      *transport.Arena
	arenaUse string // the statedump's arena: "shared", or "off: " and why
	once     sync.Once
	pinging  atomic.Bool // deadline.go: a ping runs
}

func (i *instance) kill() {
	i.once.Do(func() {
		i.client.Kill()
		i.shm.Close()
	})
}

// arenaMapped reports whether the plugin, speaking protocol version v,
// mapped the arena a it was offered, as its answer to Init says, and
// why not. A protocol 4 plugin says nothing: it mapped the arena when it
// serves its ring, which it marks ready before answering Init.
func arenaMapped(v int, rsp *pb.InitRsp, ringReady bool) (why string, ok bool) {
	switch rsp.GetArena() {
	case pb.ArenaUse_ARENA_MAPPED:
		return "", true
	case pb.ArenaUse_ARENA_UNMAPPED:
		if rsp.GetArenaError() == "" {
			return "it gave no reason", false
		}
		return rsp.GetArenaError(), false
	}
	if v >= 5 {
		return fmt.Sprintf("its answer to Init does not say whether it did (protocol %d requires it)", v), false
	}
	if ringReady {
		return "", true
	}
	return fmt.Sprintf("its ring is not ready after Init (protocol %d)", v), false
}

// launch starts the binary at path and connects to it; sum, when not
// empty, is the hex SHA-256 the binary must have.
func launch(path, sum string, log *zap.Logger, timeout time.Duration, shm *transport.Arena) (*instance, error) {
	cmd := exec.Command(path)
	// The plugin dies with the host, even when the host is killed
	// outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if shm != nil {
		cmd.ExtraFiles = []*os.File{shm.File()} // fd 3 in the plugin
		cmd.Env = []string{fmt.Sprintf("%s=%d", transport.ShmEnv, transport.ShmFD)}
		if f, size := shm.SharedPool().SharedFile(); f != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, f) // fd 4
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d:%d", transport.HostMemEnv, transport.HostMemFD, size))
		}
	}
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  rpc.Handshake(),
		VersionedPlugins: rpc.HostVersions(),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           rpc.NewZapHCLog(log),
		GRPCDialOptions:  rpc.HostDialOptions(),
		StartTimeout:     timeout,
	}
	if sum != "" {
		if err := checkPin(sum); err != nil {
			return nil, err
		}
		want, _ := hex.DecodeString(sum)
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	}
	client := goplugin.NewClient(cfg)
	cp, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			got, _ := rpc.FileSum(path)
			return nil, checksumError(path, got, sum)
		}
		if verr := rpc.VersionError(path, err); verr != nil {
			return nil, verr
		}
		return nil, fmt.Errorf("start plugin %s: %w", path, err)
	}
	raw, err := cp.Dispense(transport.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	inst := &instance{client: client, c: raw.(*rpc.Conn), shm: shm, proc: cmd.Process, version: client.NegotiatedVersion()}
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
	}
	return inst, nil
}

// checkPin checks that a volume's sha256 is 64 hex digits.
func checkPin(sum string) error {
	if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("sha256 %q is not 64 hex digits", sum)
	}
	return nil
}

// checksumError is ErrChecksum for the binary at path, whose sha256 is got
// when the volume asks for want.
func checksumError(path, got, want string) error {
	return fmt.Errorf("%w: %s has sha256 %s, the volfile asks for %s; rebuild the volfile's sum (sha256sum %s) or fix the path",
		ErrChecksum, path, got, strings.ToLower(want), path)
}

// start launches the plugin, serves the callback service on a broker
// stream (one gRPC server per plugin process, whatever the number of
// calls), initialises the plugin's graph and watches the process.
func (p *Plugin) start() (*instance, error) {
	var shm *transport.Arena
	use := "off: shm-size = 0"
	if p.shmSlots > 0 {
		var err error
		if shm, err = transport.NewArena(p.Name(), p.shmSlots); err != nil {
			use = "off: the host could not make it: " + err.Error()
			p.Logger().Warn("no shared memory for the plugin; every fop and its data go in gRPC messages", zap.Error(err))
		} else if f, _ := p.Iobufs().SharedFile(); f != nil {
			shm.ShareHostMem(p.Iobufs())
		}
	}
	inst, err := launch(p.path, p.sum, p.Logger(), p.startTimeout, shm)
	if err != nil {
		shm.Close()
		return nil, err
	}
	shm.CloseFile() // the plugin has its own descriptor now
	limit := p.newLimit(inst)
	if shm != nil {
		shm.SetLimit(transport.ToPlugin, limit)
		shm.OnBreach(func(why string) { go p.broke(inst, why) })
	}
	// The arena's slots reach the host from now on (the callback
	// service, the toHost ring); the host names its slots to the plugin
	// only once the plugin says it mapped it (peerMaps, set below).
	cb := rpc.NewServer(&callback{p: p, arena: shm})
	shm.Serve(transport.ToHost, cb) // until the arena is closed with the instance
	id := inst.c.Broker.NextId()
	go inst.c.Broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(rpc.CallbackOptions(opts)...)
		pb.RegisterXlatorServer(s, cb)
		return s
	})
	names := make([]string, len(p.Children()))
	for i, c := range p.Children() {
		names[i] = xlator.Name(c)
	}
	p.mu.Lock()
	up := append([]bool(nil), p.childUp...)
	p.mu.Unlock()
	lvl := int32(0)
	if g := p.Graph(); g != nil {
		if vs, ok := g.Spec().Volume(p.Name()); ok {
			lvl = int32(vs.LogLevel)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.startTimeout)
	defer cancel()
	opts, err := p.pluginOptions(ctx, inst)
	if err != nil {
		inst.kill()
		return nil, err
	}
	req := &pb.InitReq{Volume: p.Name(), Children: names, Options: rpc.OptionsTo(opts),
		LogLevel: lvl, CallbackBrokerId: id, ChildrenUp: up}
	if shm != nil {
		req.ShmSlots, req.ShmSlotSize = uint32(shm.Slots()), uint32(shm.SlotSize())
	}
	rsp, err := inst.c.Ctl.Init(ctx, req)
	if err != nil {
		inst.kill()
		return nil, fmt.Errorf("plugin %s: init: %s", p.path, statusMessage(err))
	}
	if shm != nil {
		if why, ok := arenaMapped(inst.version, rsp, shm.Ready(transport.ToPlugin)); ok {
			use = "shared"
			shm.SetPeerMaps()
		} else {
			// Nothing the host sends it may name the arena: it is
			// unmapped, and every fop goes by gRPC with its data.
			use = "off: the plugin did not map it: " + why
			p.Logger().Warn("the plugin runs without the shared memory arena; every fop and its data go in gRPC messages",
				zap.Int("pid", inst.pid), zap.String("reason", why))
			shm.Close()
			inst.shm, shm = nil, nil
		}
	}
	inst.arenaUse = use
	// Fops go through the ring when the plugin serves it, within
	// call-timeout either way.
	inst.c.Fops = pb.NewXlatorClient(transport.NewConn(inst.c.CC, shm, transport.ToPlugin, limit))
	stream, err := inst.c.Ctl.Watch(context.Background(), &pb.WatchReq{})
	if err != nil {
		inst.kill()
		return nil, fmt.Errorf("plugin %s: watch: %w", p.path, err)
	}
	go func() {
		_, err := stream.Recv()
		p.died(inst, err)
	}()
	return inst, nil
}

func statusMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, "desc = "); i >= 0 {
		return s[i+len("desc = "):]
	}
	return s
}

// broke handles a breach of the protocol by the plugin of inst
// (transport's breach.go): the process is killed at once, and died
// restarts it.
func (p *Plugin) broke(inst *instance, why string) {
	p.breaches.Add(1)
	p.Logger().Error("plugin broke the protocol; killing it", zap.Int("pid", inst.pid), zap.String("breach", why))
	if err := inst.proc.Kill(); err != nil {
		p.Logger().Warn("kill plugin", zap.Int("pid", inst.pid), zap.Error(err))
	}
	p.died(inst, fmt.Errorf("%w: %s", transport.ErrBreach, why))
}

// died handles the end of a plugin process: fops fail from now on, the
// parents hear child-down, and the plugin is restarted.
func (p *Plugin) died(inst *instance, why error) {
	if !p.inst.CompareAndSwap(inst, nil) {
		return // stopped by Fini, or already handled
	}
	inst.kill()
	reason := "connection lost"
	if why != nil && !errors.Is(why, io.EOF) {
		reason = statusMessage(why)
	}
	if inst.client.Exited() && !errors.Is(why, errHung) && !errors.Is(why, transport.ErrBreach) {
		reason = "process exited"
	}
	p.mu.Lock()
	if p.state == stateStopped {
		p.mu.Unlock()
		return
	}
	p.state = stateRestarting
	p.lastExit = fmt.Sprintf("%s: pid %d: %s", time.Now().Format(time.RFC3339), inst.pid, reason)
	p.loops.Add(1)
	p.mu.Unlock()
	p.Logger().Error("plugin died; restarting it", zap.Int("pid", inst.pid), zap.String("reason", reason))
	p.dropOwned()
	p.update()
	go p.restartLoop()
}

// restartLoop starts the plugin again, doubling the wait after every
// failure up to restart-backoff-max, until it runs or Fini stops it.
func (p *Plugin) restartLoop() {
	defer p.loops.Done()
	wait := p.backoff
	for {
		select {
		case <-p.stop:
			return
		case <-time.After(wait):
		}
		inst, err := p.start()
		if err == nil {
			p.mu.Lock()
			if p.state == stateStopped {
				p.mu.Unlock()
				inst.kill()
				return
			}
			p.state = stateRunning
			p.restarts++
			p.mu.Unlock()
			p.inst.Store(inst)
			p.Logger().Info("plugin restarted", zap.Int("pid", inst.pid))
			p.update()
			return
		}
		p.Logger().Error("plugin restart failed", zap.Error(err), zap.Duration("next-try", min(2*wait, p.backoffMax)))
		wait = min(2*wait, p.backoffMax)
	}
}
