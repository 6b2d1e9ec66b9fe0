package plugin

import (
	"context"
	"math"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/xstack/xstack/plugin/proto"
)

// ProtocolVersion is the version of the plugin protocol (plugin/proto).
// A host refuses a plugin built against another version.
const ProtocolVersion = 4

// Handshake is what host and plugin must agree on before they talk: the
// protocol version and a magic cookie, which also stops a plugin binary
// started by hand from waiting for a host that is not there.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "XSTACK_PLUGIN",
	MagicCookieValue: "xlator-b5f1c0de-4e9a-4d7b-9c55-6f0a1e2d3c4b",
}

// The descriptors and environment variables the host passes a plugin
// besides go-plugin's.
const (
	// shmFD is the descriptor the plugin finds the arena on, read-write,
	// when the host offers one.
	shmFD = 3
	// shmEnv is set to "3" (shmFD) when the host offers an arena.
	shmEnv = "XSTACK_PLUGIN_SHM"
	// hostMemFD is the descriptor the plugin finds the host's iobuf
	// memory on, read-only, when the host shares it.
	hostMemFD = 4
	// hostMemEnv is set to "4:SIZE" (hostMemFD, the memory's size in
	// bytes) when the host shares its iobuf memory.
	hostMemEnv = "XSTACK_PLUGIN_HOSTMEM"
)

// pluginName is the one plugin a binary serves, in go-plugin's plugin set.
const pluginName = "xlator"

// window is the HTTP/2 flow-control window of every connection. gRPC's
// default (64 KiB, grown by BDP estimation) stalls a 1 MiB write on
// several window updates; a window larger than the largest message lets it
// go in one burst.
const window = 16 << 20

// Message sizes: gRPC refuses messages over 4 MiB by default, less than a
// large readv or writev. The limit is lifted on both sides.
const maxMsg = math.MaxInt32

// serverOptions are the options of every gRPC server of this package: the
// plugin's server and the host's callback server.
func serverOptions(opts []grpc.ServerOption) []grpc.ServerOption {
	return append(opts,
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.MaxSendMsgSize(maxMsg),
		grpc.InitialWindowSize(window),
		grpc.InitialConnWindowSize(window),
	)
}

// What a plugin can make the host allocate for its messages is bounded.
const (
	// maxIO bounds the size of a readv a plugin may ask of the host (16
	// times the largest the host's front ends send): a larger one fails
	// with EINVAL instead of making a child allocate it.
	maxIO = 16 << 20
	// maxCallback bounds every gRPC message the host receives from a
	// plugin: a request to its callback service, a reply to its calls.
	maxCallback = maxIO + 1<<20
	// maxCallbackStreams bounds the calls the callback service runs at
	// once by gRPC.
	maxCallbackStreams = ringWorkers
)

// callbackOptions are serverOptions with the bounds of the host's
// callback service.
func callbackOptions(opts []grpc.ServerOption) []grpc.ServerOption {
	return append(serverOptions(opts), grpc.MaxRecvMsgSize(maxCallback), grpc.MaxConcurrentStreams(maxCallbackStreams))
}

// newServer makes a gRPC server with serverOptions; the form go-plugin's
// ServeConfig.GRPCServer and GRPCBroker.AcceptAndServe take.
func newServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(serverOptions(opts)...)
}

// hostDialOptions are dialOptions with the host's bound on the replies it
// takes from a plugin.
func hostDialOptions() []grpc.DialOption {
	return append(dialOptions(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxCallback)))
}

// dialOptions are the options of every client connection of this package.
func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
		grpc.WithInitialWindowSize(window),
		grpc.WithInitialConnWindowSize(window),
	}
}

// grpcPlugin is the go-plugin glue on both sides: in the plugin it
// registers the services (serve is set), in the host it wraps the
// connection (serve is nil).
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	serve func(*goplugin.GRPCBroker, *grpc.Server)
}

// GRPCServer registers the plugin's services.
func (p *grpcPlugin) GRPCServer(b *goplugin.GRPCBroker, s *grpc.Server) error {
	p.serve(b, s)
	return nil
}

// GRPCClient wraps the host's connection to the plugin.
func (p *grpcPlugin) GRPCClient(_ context.Context, b *goplugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &conn{broker: b, cc: cc, ctl: pb.NewControlClient(cc), fops: pb.NewXlatorClient(cc)}, nil
}

// conn is the host's side of one running plugin process.
type conn struct {
	broker *goplugin.GRPCBroker
	cc     *grpc.ClientConn
	ctl    pb.ControlClient
	fops   pb.XlatorClient
}
