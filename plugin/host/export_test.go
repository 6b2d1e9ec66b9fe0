package host

import (
	"context"

	pb "github.com/xstack/xstack/plugin/proto"
)

// Ping makes one empty round trip to the plugin: the floor of every fop.
func (p *Plugin) Ping(ctx context.Context) error {
	inst := p.inst.Load()
	if inst == nil {
		return context.Canceled
	}
	_, err := inst.c.Ctl.Ping(ctx, &pb.Empty{})
	return err
}
