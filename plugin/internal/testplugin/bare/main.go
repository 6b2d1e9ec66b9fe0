// Command bare is a plugin written from plugin/internal/transport/PROTOCOL.md alone, as one
// in another language would be: it uses go-plugin and the messages
// generated from plugin/proto/xlator.proto, not package plugin. It is
// built by the tests of package plugin/host and never shipped.
//
// It speaks the protocol version it is built with (go build -ldflags
// "-X main.version=N"; 5 unless given), the only one it offers at the
// handshake, so the tests build it as every version a host must serve
// or refuse. It never maps the arena: at Init it says so (protocol 5)
// or says nothing (protocol 4, whose Init answer had no such field), and
// every fop and its data travel in gRPC messages. Its translator has no
// children: it keeps regular files in memory, in the root only, and
// serves create, fstat, writev, readv, release and forget; any other fop
// fails as unimplemented. A writev that names an arena slot, which a
// host must not send a plugin without the arena, fails with EIO.
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/xstack/xstack/plugin/proto"
)

// version is the protocol version the plugin speaks, set at build time.
var version = "5"

// The handshake's magic cookie (PROTOCOL.md, "Starting a plugin").
const (
	cookieKey   = "XSTACK_PLUGIN"
	cookieValue = "xlator-b5f1c0de-4e9a-4d7b-9c55-6f0a1e2d3c4b"
)

func main() {
	v, err := strconv.Atoi(version)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bare: version %q: %v\n", version, err)
		os.Exit(1)
	}
	fs := &files{version: v, byGfid: map[[16]byte]*file{}, byHandle: map[uint64]*file{}}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  goplugin.HandshakeConfig{ProtocolVersion: uint(v), MagicCookieKey: cookieKey, MagicCookieValue: cookieValue},
		VersionedPlugins: map[int]goplugin.PluginSet{v: {"xlator": &xlatorPlugin{fs: fs}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
	})
}

// xlatorPlugin registers the Control and Xlator services: the plugin
// "xlator" of the plugin set.
type xlatorPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	fs *files
}

func (p *xlatorPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterControlServer(s, &control{fs: p.fs})
	pb.RegisterXlatorServer(s, p.fs)
	return nil
}

func (p *xlatorPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("bare is a plugin, not a host")
}

// control serves the plugin's lifecycle.
type control struct {
	pb.UnimplementedControlServer
	fs *files
}

func (c *control) Schema(context.Context, *pb.SchemaReq) (*pb.SchemaRsp, error) {
	return &pb.SchemaRsp{Name: "bare", Doc: "regular files in memory, in the root, by gRPC alone"}, nil
}

// Init answers as the version it speaks: protocol 4 with no word on the
// arena, protocol 5 and later saying it did not map it.
func (c *control) Init(_ context.Context, q *pb.InitReq) (*pb.InitRsp, error) {
	if len(q.Children) != 0 {
		return nil, fmt.Errorf("bare takes no subvolumes, the volume has %d", len(q.Children))
	}
	if c.fs.version < 5 {
		return &pb.InitRsp{}, nil
	}
	return &pb.InitRsp{Arena: pb.ArenaUse_ARENA_UNMAPPED, ArenaError: "bare maps no arena"}, nil
}

func (c *control) Fini(context.Context, *pb.Empty) (*pb.Empty, error)       { return &pb.Empty{}, nil }
func (c *control) Notify(context.Context, *pb.NotifyReq) (*pb.Empty, error) { return &pb.Empty{}, nil }
func (c *control) Ping(context.Context, *pb.Empty) (*pb.Empty, error)       { return &pb.Empty{}, nil }
func (c *control) Stats(context.Context, *pb.StatsReq) (*pb.StatsRsp, error) {
	return &pb.StatsRsp{Pid: int64(os.Getpid())}, nil
}

// Watch blocks until the host goes away.
func (c *control) Watch(_ *pb.WatchReq, s grpc.ServerStreamingServer[pb.WatchRsp]) error {
	<-s.Context().Done()
	return nil
}

// files are the plugin's files, by gfid and by the host's fd handles.
type files struct {
	pb.UnimplementedXlatorServer
	version int

	mu       sync.Mutex
	next     uint64 // the last inode number given
	byGfid   map[[16]byte]*file
	byHandle map[uint64]*file
}

type file struct {
	gfid [16]byte
	ino  uint64
	data []byte
}

func (f *file) iatt() *pb.Iatt {
	return &pb.Iatt{Gfid: f.gfid[:], Ino: f.ino, Mode: syscall.S_IFREG | 0o644, Nlink: 1, Size: int64(len(f.data)), Blksize: 4096}
}

func errno(e syscall.Errno) uint32 { return uint32(e) }

// Create makes an empty file under the handle the host gave its fd.
func (fs *files) Create(_ context.Context, q *pb.CreateReq) (*pb.OpenRsp, error) {
	if q.Fd == nil || q.Fd.Handle == 0 {
		return &pb.OpenRsp{Errno: errno(syscall.EBADF)}, nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	f := &file{ino: fs.next}
	f.gfid[0] = 0xba // any 16 bytes but the root's (15 zeroes and a 1)
	binary.BigEndian.PutUint64(f.gfid[8:], fs.next)
	fs.byGfid[f.gfid] = f
	fs.byHandle[q.Fd.Handle] = f
	return &pb.OpenRsp{Handle: q.Fd.Handle, Iatt: f.iatt()}, nil
}

// fd returns the file of an fd: by the host's handle, or by its gfid for
// an fd this process never saw opened.
func (fs *files) fd(pf *pb.Fd) (*file, uint32) {
	if pf == nil {
		return nil, errno(syscall.EBADF)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.byHandle[pf.Handle]; f != nil {
		return f, 0
	}
	var g [16]byte
	copy(g[:], pf.Gfid)
	if f := fs.byGfid[g]; f != nil {
		return f, 0
	}
	return nil, errno(syscall.EBADF)
}

func (fs *files) Fstat(_ context.Context, q *pb.FdReq) (*pb.IattRsp, error) {
	f, e := fs.fd(q.Fd)
	if e != 0 {
		return &pb.IattRsp{Errno: e}, nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return &pb.IattRsp{Iatt: f.iatt()}, nil
}

// Writev writes the data in the message; a slot, which it never mapped,
// is an error of the host's.
func (fs *files) Writev(_ context.Context, q *pb.WritevReq) (*pb.WritevRsp, error) {
	if q.Shm != nil {
		return &pb.WritevRsp{Errno: errno(syscall.EIO)}, nil
	}
	f, e := fs.fd(q.Fd)
	if e != 0 {
		return &pb.WritevRsp{Errno: e}, nil
	}
	if q.Off < 0 {
		return &pb.WritevRsp{Errno: errno(syscall.EINVAL)}, nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	off := q.Off
	for _, seg := range q.Iov {
		if end := off + int64(len(seg)); end > int64(len(f.data)) {
			f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
		}
		off += int64(copy(f.data[off:], seg))
	}
	return &pb.WritevRsp{N: off - q.Off}, nil
}

// Readv answers with the data in the message.
func (fs *files) Readv(_ context.Context, q *pb.ReadvReq) (*pb.ReadvRsp, error) {
	f, e := fs.fd(q.Fd)
	if e != 0 {
		return &pb.ReadvRsp{Errno: e}, nil
	}
	if q.Off < 0 || q.Size < 0 {
		return &pb.ReadvRsp{Errno: errno(syscall.EINVAL)}, nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if q.Off >= int64(len(f.data)) {
		return &pb.ReadvRsp{}, nil
	}
	end := min(q.Off+q.Size, int64(len(f.data)))
	return &pb.ReadvRsp{Iov: [][]byte{append([]byte(nil), f.data[q.Off:end]...)}}, nil
}

func (fs *files) Release(_ context.Context, q *pb.FdReq) (*pb.ErrRsp, error) {
	if q.Fd != nil {
		fs.mu.Lock()
		delete(fs.byHandle, q.Fd.Handle)
		fs.mu.Unlock()
	}
	return &pb.ErrRsp{}, nil
}

// Forget: the files live as long as the process; nothing to drop.
func (fs *files) Forget(context.Context, *pb.ForgetReq) (*pb.ErrRsp, error) { return &pb.ErrRsp{}, nil }
