package rpc_test

import (
	"context"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/rpc/rpctest"
	"github.com/xstack/xstack/plugin/internal/transport"
	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestCallbackBounds: the host refuses, before any child sees them, a
// readv larger than maxIO (a child would allocate it) and a readdir from
// a negative cookie, whether they come by gRPC or through the ring.
func TestCallbackBounds(t *testing.T) {
	g := xlatortest.Start(t, xlatortest.Chain("mem"), xlatortest.Registry(), xlatortest.NewEnv(t))
	s := rpctest.NewServer(g, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		errno uint32
		want  syscall.Errno
	}{
		{"readv of maxIO+1", func() uint32 {
			rsp, _ := s.Readv(ctx, &pb.ReadvReq{H: &pb.Header{}, Fd: &pb.Fd{}, Size: transport.MaxIO + 1})
			return rsp.Errno
		}(), syscall.EINVAL},
		{"readv of maxIO", func() uint32 {
			rsp, _ := s.Readv(ctx, &pb.ReadvReq{H: &pb.Header{}, Fd: &pb.Fd{}, Size: transport.MaxIO})
			return rsp.Errno
		}(), syscall.EBADF}, // checked, then refused for its fd
		{"readdir from a negative cookie", func() uint32 {
			rsp, _ := s.Readdir(ctx, &pb.ReaddirReq{H: &pb.Header{}, Fd: &pb.Fd{}, Off: -1, Count: 10})
			return rsp.Errno
		}(), syscall.EINVAL},
	} {
		if syscall.Errno(tc.errno) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, syscall.Errno(tc.errno), tc.want)
		}
	}
}

// bigReadv answers every Readv with more than maxCallback bytes.
type bigReadv struct{ pb.UnimplementedXlatorServer }

func (bigReadv) Readv(context.Context, *pb.ReadvReq) (*pb.ReadvRsp, error) {
	return &pb.ReadvRsp{Iov: [][]byte{make([]byte, transport.MaxCallback+1)}}, nil
}

// TestGRPCBounds: by gRPC, the host takes no message from a plugin larger
// than maxCallback, neither a request to its callback service nor a
// reply to its own calls; a plugin's own connections are not bounded.
func TestGRPCBounds(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(rpc.CallbackOptions(nil)...) // the host's callback service
	pb.RegisterXlatorServer(srv, bigReadv{})
	go srv.Serve(l)
	defer srv.Stop()
	dial := func(opts []grpc.DialOption) pb.XlatorClient {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
		cc, err := grpc.NewClient("unix:"+sock, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return pb.NewXlatorClient(cc)
	}
	ctx := context.Background()
	big := &pb.WritevReq{H: &pb.Header{}, Iov: [][]byte{make([]byte, transport.MaxCallback+1)}}
	_, err = dial(rpc.DialOptions()).Writev(ctx, big)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a request larger than maxCallback to the host's callback service: %v", err)
	}
	if _, err := dial(rpc.HostDialOptions()).Readv(ctx, &pb.ReadvReq{}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a reply larger than maxCallback to the host: %v", err)
	}
	if rsp, err := dial(rpc.DialOptions()).Readv(ctx, &pb.ReadvReq{}); err != nil || len(rsp.Iov[0]) != transport.MaxCallback+1 {
		t.Errorf("a large reply to a plugin: %v", err)
	}
}
