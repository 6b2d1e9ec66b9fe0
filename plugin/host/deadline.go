package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
)

// Deadlines. A host's call to its plugin ends at the first of: the reply;
// the caller's context (xlator.Call.Ctx: a FUSE INTERRUPT, an API
// caller's cancel or deadline), which gives ECANCELED or ETIMEDOUT; the
// volume's call-timeout, which gives ETIMEDOUT; the plugin's death, which
// gives ENOTCONN. A caller waiting on a ring notices the first two within
// sleepFor (transport's ring.go); a call by gRPC has them as its context.
// A FUSE request's call (every fop but Lk) ends at the kernel's INTERRUPT
// only when its caller is dying (xlator.CallerDying: killed); a caller
// only interrupted by a signal it handles waits, up to call-timeout, and
// is told what happened: no EINTR from stat(2), no rename reported
// failed after it was done (transport's keepsOnCancel). An API caller's
// deadline or cancel ends any call at once: it stops waiting, whatever
// the outcome.
//
// A call that runs out of call-timeout may mean the plugin hangs: the
// host then pings it (Control.Ping, by gRPC, once at a time) and kills a
// plugin that does not answer within half of call-timeout, at most
// transport.PingWait. died then restarts it as after a crash, and the
// calls still in flight fail with ENOTCONN. A plugin that answers stays: a
// fop of its may be slow or stuck while the process is sound, and its
// other fops keep working. Either way a call given up is abandoned, not
// forgotten: its slot is reclaimed when the plugin completes it or dies
// (transport's ring.go).

// errHung is the reason died gives a plugin killed for not answering.
var errHung = errors.New("hung")

// newLimit returns the bound of the calls to inst, nil if the host has
// none.
func (p *Plugin) newLimit(inst *instance) *transport.Limit {
	if p.callTimeout <= 0 {
		return nil
	}
	return &transport.Limit{Timeout: p.callTimeout, Expired: func() { p.stalled(inst) }}
}

// stalled runs when a call to inst ran out of call-timeout: it starts a
// ping of the plugin unless one runs already.
func (p *Plugin) stalled(inst *instance) {
	p.timeouts.Add(1)
	if inst.pinging.CompareAndSwap(false, true) {
		go p.ping(inst)
	}
}

// ping pings inst and kills it when it does not answer in time.
func (p *Plugin) ping(inst *instance) {
	defer inst.pinging.Store(false)
	wait := min(p.callTimeout/2, transport.PingWait)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	start := time.Now()
	_, err := inst.c.Ctl.Ping(ctx, &pb.Empty{})
	cancel()
	p.pings.Add(1)
	if err == nil {
		p.Logger().Warn("a call to the plugin ran out of call-timeout; the plugin answers pings, so it keeps running",
			zap.Int("pid", inst.pid), zap.Duration("call-timeout", p.callTimeout), zap.Duration("ping", time.Since(start)))
		return
	}
	p.pingsUnanswered.Add(1)
	if p.inst.Load() != inst {
		return // died meanwhile
	}
	why := fmt.Errorf("%w: a call ran out of call-timeout (%v) and the plugin did not answer a ping within %v; killed",
		errHung, p.callTimeout, wait)
	p.Logger().Error("plugin hung; killing it", zap.Int("pid", inst.pid), zap.Error(why))
	if err := inst.proc.Kill(); err != nil {
		p.Logger().Warn("kill plugin", zap.Int("pid", inst.pid), zap.Error(err))
	}
	p.died(inst, why)
}
