package plugin

import (
	"context"

	pb "github.com/xstack/xstack/plugin/proto"
)

// Ping makes one empty round trip to the plugin: the floor of every fop.
func (h *Host) Ping(ctx context.Context) error {
	inst := h.inst.Load()
	if inst == nil {
		return context.Canceled
	}
	_, err := inst.c.Ctl.Ping(ctx, &pb.Empty{})
	return err
}
