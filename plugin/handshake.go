package plugin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime/debug"
	"strconv"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/xstack/xstack/plugin/proto"
)

// The protocol's versions. A plugin speaks one version, the one it was
// built with; a host speaks MinProtocolVersion to ProtocolVersion and
// offers them all at the handshake (go-plugin's VersionedPlugins: the
// PLUGIN_PROTOCOL_VERSIONS environment variable), the plugin answers
// with its own, and a host that does not speak it refuses the plugin
// with ErrProtocolVersion. PROTOCOL.md says what each version changed.
//
// A change that an older peer would misread takes a new version: a
// field of shared memory moved or given a meaning, a ring method
// number, a message field whose absence means something else, a rule of
// the call state machine. The host keeps serving the version before when
// that is cheap, and MinProtocolVersion says how far back it goes.
const (
	// ProtocolVersion is the version this package's plugins speak and
	// the newest its hosts speak: 5, Init answered with InitRsp, which
	// says whether the plugin mapped the arena.
	ProtocolVersion = 5
	// MinProtocolVersion is the oldest version a host serves: 4, the
	// same shared memory and method numbers, Init answered with ErrRsp;
	// the host takes such a plugin to have mapped the arena when its
	// ring is ready.
	MinProtocolVersion = 4
)

// ErrProtocolVersion is returned (wrapped, naming the binary, its version
// and the host's) when a plugin speaks a version of the protocol the
// host does not.
var ErrProtocolVersion = errors.New("plugin speaks another version of the plugin protocol")

// The magic cookie: go-plugin starts a plugin with cookieKey=cookieValue
// in its environment, and a plugin binary started without it (by hand)
// says so and exits instead of waiting for a host that is not there.
const (
	cookieKey   = "XSTACK_PLUGIN"                               // the magic cookie's environment variable
	cookieValue = "xlator-b5f1c0de-4e9a-4d7b-9c55-6f0a1e2d3c4b" // its value
)

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

// handshake is what host and plugin must agree on before they talk.
func handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{ProtocolVersion: ProtocolVersion, MagicCookieKey: cookieKey, MagicCookieValue: cookieValue}
}

// hostVersions are the plugin sets of the versions a host speaks.
func hostVersions() map[int]goplugin.PluginSet {
	vs := map[int]goplugin.PluginSet{}
	for v := MinProtocolVersion; v <= ProtocolVersion; v++ {
		vs[v] = goplugin.PluginSet{pluginName: &grpcPlugin{}}
	}
	return vs
}

// pluginVersion matches go-plugin's error for a plugin that answered the
// handshake with a version the host does not speak, and finds that
// version.
var pluginVersion = regexp.MustCompile(`incompatible API version with plugin\. Plugin version: (-?[0-9]+)`)

// versionError returns ErrProtocolVersion for the plugin at path when err
// is go-plugin's refusal of its version, else nil.
func versionError(path string, err error) error {
	m := pluginVersion.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	v, _ := strconv.Atoi(m[1])
	fix := fmt.Sprintf("rebuild the plugin against this version of xstack (in its module: go get %s@%s, then go build)",
		module, moduleVersion())
	if v > ProtocolVersion {
		fix = "upgrade xstack, or " + fix
	}
	return fmt.Errorf("%w: %s speaks protocol %d, this host speaks %d to %d: %s",
		ErrProtocolVersion, path, v, MinProtocolVersion, ProtocolVersion, fix)
}

// module is the module of this package, which a Go plugin requires.
const module = "github.com/xstack/xstack"

// moduleVersion returns the version of module this binary was built with,
// as go get takes it, or a placeholder when the build does not say (a
// build from a work tree that is not a module version).
func moduleVersion() string {
	const unknown = "<the host's version>"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return unknown
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	for _, m := range mods {
		if m.Path == module && m.Version != "" && m.Version != "(devel)" {
			return m.Version
		}
	}
	return unknown
}

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
