package rpc

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

	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
)

// ErrProtocolVersion is returned (wrapped, naming the binary, its version
// and the host's) when a plugin speaks a version of the protocol the
// host does not.
var ErrProtocolVersion = errors.New("plugin speaks another version of the plugin protocol")

// Handshake returns what host and plugin must agree on before they talk.
func Handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{ProtocolVersion: transport.ProtocolVersion, MagicCookieKey: transport.CookieKey, MagicCookieValue: transport.CookieValue}
}

// HostVersions returns the plugin sets of the versions a host speaks.
func HostVersions() map[int]goplugin.PluginSet {
	vs := map[int]goplugin.PluginSet{}
	for v := transport.MinProtocolVersion; v <= transport.ProtocolVersion; v++ {
		vs[v] = goplugin.PluginSet{transport.PluginName: &GRPCPlugin{}}
	}
	return vs
}

// pluginVersion matches go-plugin's error for a plugin that answered the
// handshake with a version the host does not speak, and finds that
// version.
var pluginVersion = regexp.MustCompile(`incompatible API version with plugin\. Plugin version: (-?[0-9]+)`)

// VersionError returns ErrProtocolVersion for the plugin at path when err
// is go-plugin's refusal of its version, else nil.
func VersionError(path string, err error) error {
	m := pluginVersion.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	v, _ := strconv.Atoi(m[1])
	fix := fmt.Sprintf("rebuild the plugin against this version of xstack (in its module: go get %s@%s, then go build)",
		module, moduleVersion())
	if v > transport.ProtocolVersion {
		fix = "upgrade xstack, or " + fix
	}
	return fmt.Errorf("%w: %s speaks protocol %d, this host speaks %d to %d: %s",
		ErrProtocolVersion, path, v, transport.MinProtocolVersion, transport.ProtocolVersion, fix)
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

// CallbackOptions are serverOptions with the bounds of the host's
// callback service.
func CallbackOptions(opts []grpc.ServerOption) []grpc.ServerOption {
	return append(serverOptions(opts), grpc.MaxRecvMsgSize(transport.MaxCallback), grpc.MaxConcurrentStreams(transport.MaxCallbackStreams))
}

// NewGRPCServer makes a gRPC server with serverOptions; the form go-plugin's
// ServeConfig.GRPCServer and GRPCBroker.AcceptAndServe take.
func NewGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(serverOptions(opts)...)
}

// HostDialOptions are dialOptions with the host's bound on the replies it
// takes from a plugin.
func HostDialOptions() []grpc.DialOption {
	return append(DialOptions(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(transport.MaxCallback)))
}

// DialOptions are the options of every client connection of this package.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
		grpc.WithInitialWindowSize(window),
		grpc.WithInitialConnWindowSize(window),
	}
}

// GRPCPlugin is the go-plugin glue on both sides: in the plugin it
// registers the services (serve is set), in the host it wraps the
// connection (serve is nil).
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Serve func(*goplugin.GRPCBroker, *grpc.Server)
}

// GRPCServer registers the plugin's services.
func (p *GRPCPlugin) GRPCServer(b *goplugin.GRPCBroker, s *grpc.Server) error {
	p.Serve(b, s)
	return nil
}

// GRPCClient wraps the host's connection to the plugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, b *goplugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &Conn{Broker: b, CC: cc, Ctl: pb.NewControlClient(cc), Fops: pb.NewXlatorClient(cc)}, nil
}

// Conn is the host's side of one running plugin process.
type Conn struct {
	Broker *goplugin.GRPCBroker
	CC     *grpc.ClientConn
	Ctl    pb.ControlClient
	Fops   pb.XlatorClient
}
