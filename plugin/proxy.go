package plugin

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// proxyType is the type of the leaves of a plugin's graph: one proxy per
// host subvolume, winding fops back to the host through the callback
// service. Its name cannot clash with a volfile type: volfiles never reach
// the plugin's registry.
const proxyType = "xstack-plugin-proxy"

// proxy is a leaf of the plugin's graph standing for one of the host's
// children: the plugin's translator winds fops to it as to any child.
type proxy struct {
	rpc.Remote
	cl     pb.XlatorClient
	arena  *transport.Arena // the plugin's shared memory with the host, or nil
	hostUp atomic.Bool
}

var _ xlator.Xlator = (*proxy)(nil)

// fdRef is a proxy's state on an fd: the host's handle for it. owned fds
// were opened by the plugin itself (the host made an fd for them and
// waits for their Release); the others are the host's own fds, released
// by the host.
type fdRef struct {
	handle uint64
	owned  bool
}

func newProxy(cl pb.XlatorClient, child uint32) *proxy {
	p := &proxy{cl: cl}
	p.Child = child
	p.Mapper = p
	p.hostUp.Store(true)
	return p
}

func (p *proxy) Client() (pb.XlatorClient, error) {
	if !p.hostUp.Load() {
		return nil, syscall.ENOTCONN
	}
	return p.cl, nil
}

func (p *proxy) Loc(l *xlator.Loc) *pb.Loc {
	if l == nil {
		return nil
	}
	pl := &pb.Loc{Name: l.Name, GfidReq: rpc.GfidBytes(l.GfidReq)}
	if l.Parent != nil {
		pl.Parent = rpc.GfidBytes(l.Parent.GFID())
	}
	if in := l.Inode; in != nil {
		pl.Gfid, pl.Type = rpc.GfidBytes(in.GFID()), in.Type()
		if in.GFID().IsZero() {
			pl.Inode, _ = in.Ctx(p).(uint64)
		}
	}
	return pl
}

func (p *proxy) FD(fd *xlator.FD) transport.FD {
	d := transport.FD{Gfid: fd.Inode.GFID(), Type: fd.Inode.Type(), Flags: fd.Flags, Pid: fd.Pid, Dir: fd.IsDir()}
	if r, ok := fd.Ctx(p).(*fdRef); ok {
		d.Handle = r.handle
	}
	if d.Gfid.IsZero() {
		d.Inode, _ = fd.Inode.Ctx(p).(uint64)
	}
	return d
}

func (p *proxy) Arena() *transport.Arena {
	if p.arena.Acquire() {
		return p.arena
	}
	return nil
}

func (p *proxy) Dir() int { return transport.ToHost }

// done: the proxy registers no inode handles of its own; the ones it
// passes belong to the host.
func (p *proxy) Done(uint64) {}

func (p *proxy) Opened(fd *xlator.FD, handle uint64) {
	if _, ok := fd.Ctx(p).(*fdRef); !ok && handle != 0 {
		fd.SetCtx(p, &fdRef{handle: handle, owned: true})
	}
}

// Release tells the host to drop the fd it made for an fd the plugin
// opened itself.
func (p *proxy) Release(fd *xlator.FD) { p.release(fd, false) }

// Releasedir is Release for a directory fd.
func (p *proxy) Releasedir(fd *xlator.FD) { p.release(fd, true) }

func (p *proxy) release(fd *xlator.FD, dir bool) {
	r, ok := fd.DelCtx(p).(*fdRef)
	if !ok || !r.owned {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &pb.FdReq{H: &pb.Header{Child: p.Child}, Fd: &pb.Fd{Handle: r.handle, Dir: dir}}
	if dir {
		_, _ = p.cl.Releasedir(ctx, req)
	} else {
		_, _ = p.cl.Release(ctx, req)
	}
}

// Notify: a proxy is up when its host child is; parent-up is answered at
// once with the host child's state.
func (p *proxy) Notify(ev xlator.Event, from xlator.Xlator) {
	switch ev {
	case xlator.EventParentUp:
		if p.hostUp.Load() {
			p.NotifyParents(xlator.EventChildUp)
		} else {
			p.NotifyParents(xlator.EventChildDown)
		}
	}
}

// hostEvent passes on the host child's child-up or child-down.
func (p *proxy) hostEvent(ev xlator.Event) {
	up := ev == xlator.EventChildUp
	if p.hostUp.Swap(up) != up {
		p.NotifyParents(ev)
	}
}
