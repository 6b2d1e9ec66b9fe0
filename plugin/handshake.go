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

// ErrProtocolVersion is returned (wrapped, naming the binary, its version
// and the host's) when a plugin speaks a version of the protocol the
// host does not.
var ErrProtocolVersion = errors.New("plugin speaks another version of the plugin protocol")

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
