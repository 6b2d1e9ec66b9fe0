package host

import (
	"testing"

	pb "github.com/xstack/xstack/plugin/proto"
)

// TestArenaMapped: how the host reads a plugin's answer to Init about the
// arena. From protocol 5 the answer says; a protocol 4 plugin, which
// cannot, mapped the arena exactly when its ring is ready.
func TestArenaMapped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version int
		rsp     *pb.InitRsp
		ready   bool
		mapped  bool
		why     string
	}{
		{"5/mapped", 5, &pb.InitRsp{Arena: pb.ArenaUse_ARENA_MAPPED}, true, true, ""},
		{"5/unmapped", 5, &pb.InitRsp{Arena: pb.ArenaUse_ARENA_UNMAPPED, ArenaError: "no memfd here"}, false, false, "no memfd here"},
		{"5/unmapped-no-reason", 5, &pb.InitRsp{Arena: pb.ArenaUse_ARENA_UNMAPPED}, false, false, "it gave no reason"},
		{"5/unmapped-ring-ready", 5, &pb.InitRsp{Arena: pb.ArenaUse_ARENA_UNMAPPED, ArenaError: "x"}, true, false, "x"},
		{"5/unstated", 5, &pb.InitRsp{}, true, false, "its answer to Init does not say whether it did (protocol 5 requires it)"},
		{"4/ring-ready", 4, &pb.InitRsp{}, true, true, ""},
		{"4/ring-not-ready", 4, &pb.InitRsp{}, false, false, "its ring is not ready after Init (protocol 4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, ok := arenaMapped(tc.version, tc.rsp, tc.ready)
			if ok != tc.mapped || why != tc.why {
				t.Errorf("arenaMapped = %v, %q; want %v, %q", ok, why, tc.mapped, tc.why)
			}
		})
	}
}
