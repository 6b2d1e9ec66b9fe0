package plugin

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/xstack/xstack/plugin/proto"
)

// Every call of the Xlator service other than readv and writev (which
// have ops of their own, with their data in arena slots or host memory)
// goes through the call rings too, as the very protobuf messages gRPC
// would carry: ringConn is a grpc.ClientConnInterface, so the generated
// client marshals nothing new and every fop, present and future, is
// covered by one path. The request is marshalled into the call's message
// area (an arena slot when it is larger), the serving side's worker
// unmarshals it and runs the service's own generated handler on the
// server, and the reply comes back the same way. A getattr that costs a
// gRPC round trip (≈ 200 µs here) twice — the host calling the plugin,
// the plugin winding back into the host's child — costs two ring calls.
//
// What a ring cannot carry goes by gRPC as before: no ring (shm-size 0),
// no free call, a request larger than an arena slot or no free slot for
// it, and a reply of a call that may be repeated (a read of metadata)
// that found no slot. A reply that cannot be placed for a call that must
// not run twice (a create) fails with ResourceExhausted; replies of those
// are a few hundred bytes and fit the message area.

// ringMethod is a method of the Xlator service served through the rings.
type ringMethod struct {
	name    string
	handler grpc.MethodHandler
	retry   bool // has no effect: may be repeated by gRPC
}

// ringMethods are the methods in the service's order; ringMethodIdx maps
// a full method name to its index + 1. Both sides are built from the same
// generated code (the handshake checks the protocol version).
var ringMethods, ringMethodIdx = func() ([]ringMethod, map[string]uint32) {
	retry := map[string]bool{"Lookup": true, "Stat": true, "Fstat": true, "Access": true, "Readlink": true,
		"Readdir": true, "Statfs": true, "Getxattr": true, "Listxattr": true}
	var ms []ringMethod
	idx := map[string]uint32{}
	for _, m := range pb.Xlator_ServiceDesc.Methods {
		if m.MethodName == "Readv" || m.MethodName == "Writev" {
			continue
		}
		ms = append(ms, ringMethod{name: m.MethodName, handler: m.Handler, retry: retry[m.MethodName]})
		idx[xlatorPrefix+m.MethodName] = uint32(len(ms))
	}
	return ms, idx
}()

// xlatorPrefix begins the full name of every method of the Xlator
// service.
var xlatorPrefix = "/" + pb.Xlator_ServiceDesc.ServiceName + "/"

// ringConn is a connection that makes the Xlator service's unary calls
// through a ring of a (dir: toPlugin in the host, toHost in the plugin)
// when it can, and through cc when it cannot.
type ringConn struct {
	cc  grpc.ClientConnInterface
	a   *arena
	dir int
}

var _ grpc.ClientConnInterface = (*ringConn)(nil)

// Invoke makes a unary call.
func (rc *ringConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if m := ringMethodIdx[method]; m != 0 && rc.a.acquire() {
		err, ok := rc.invoke(ctx, m, args.(proto.Message), reply.(proto.Message))
		rc.a.release()
		if ok {
			return err
		}
	}
	if strings.HasPrefix(method, xlatorPrefix) {
		rc.a.grpcCalls[rc.dir].Add(1)
	}
	return rc.cc.Invoke(ctx, method, args, reply, opts...)
}

// NewStream opens a stream on the gRPC connection; the rings carry no
// streams.
func (rc *ringConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return rc.cc.NewStream(ctx, desc, method, opts...)
}

// invoke makes call m through the ring; ok false: it could not, and did
// not run (the caller goes by gRPC).
func (rc *ringConn) invoke(ctx context.Context, m uint32, in, out proto.Message) (err error, ok bool) {
	a := rc.a
	rg := a.caller(rc.dir)
	if rg == nil {
		return nil, false
	}
	n := proto.Size(in)
	if n > a.slotSize {
		return nil, false
	}
	c := rg.claim()
	if c == nil {
		return nil, false
	}
	var buf []byte
	if n <= ringMsgSize {
		c.dkind, buf = dataInline, c.msg[:0:n]
	} else {
		slot, b, ok := a.alloc(n, 0)
		if !ok {
			rg.free(c)
			return nil, false
		}
		c.dkind, c.dslot, buf = dataSlot, uint32(slot), b[:0]
	}
	if b, err := (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(buf, in); err != nil || len(b) != n || cap(b) != n {
		// A message that changed size under us (or did not marshal)
		// is gRPC's to report.
		rc.freeCall(rg, c)
		return nil, false
	}
	c.op, c.method, c.dlen = opUnary, m, uint32(n)
	rg.join(ctx, c)
	rg.post(c)
	if err := rg.wait(ctx, c); err != nil {
		// The request slot, if any, is the worker's to drop now.
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err(), true
		}
		return status.Error(codes.Unavailable, err.Error()), true
	}
	defer rc.freeCall(rg, c)
	if c.code != 0 {
		return status.Error(codes.Code(c.code), string(c.msg[:min(int(c.rlen), ringMsgSize)])), true
	}
	var rsp []byte
	switch c.rkind {
	case dataInline:
		if int(c.rlen) > ringMsgSize {
			return status.Error(codes.Internal, "ring reply longer than its call"), true
		}
		rsp = c.msg[:c.rlen]
	case dataSlot:
		b, ok := a.bytes(c.rslot, c.rlen)
		if !ok {
			return status.Error(codes.Internal, "ring reply in no slot"), true
		}
		defer a.drop(c.rslot)
		rsp = b
	default: // no room for the reply
		a.ringRetries[rg.dir].Add(1)
		if ringMethods[m-1].retry {
			return nil, false
		}
		return status.Errorf(codes.ResourceExhausted, "no shared memory for the reply of %s", ringMethods[m-1].name), true
	}
	if err := proto.Unmarshal(rsp, out); err != nil {
		return status.Errorf(codes.Internal, "ring reply of %s: %v", ringMethods[m-1].name, err), true
	}
	return nil, true
}

// freeCall frees a call this side filled and its request slot.
func (rc *ringConn) freeCall(rg *ring, c *ringCall) {
	if slot, ok := c.reqSlot(); ok {
		rc.a.drop(slot)
	}
	rg.free(c)
}

// serveUnary serves an opUnary call with s's generated handler.
func serveUnary(ctx context.Context, s *server, a *arena, c *ringCall) {
	c.code, c.rkind, c.rlen = 0, dataNone, 0
	fail := func(code codes.Code, msg string) {
		c.code = uint32(code)
		c.rlen = uint32(copy(c.msg[:], msg))
	}
	if c.method == 0 || int(c.method) > len(ringMethods) {
		fail(codes.Unimplemented, "unknown ring method")
		return
	}
	m := &ringMethods[c.method-1]
	var in []byte
	switch c.dkind {
	case dataInline:
		if int(c.dlen) > ringMsgSize {
			fail(codes.InvalidArgument, "ring request longer than its call")
			return
		}
		in = c.msg[:c.dlen]
	case dataSlot:
		b, ok := a.bytes(c.dslot, c.dlen)
		if !ok {
			fail(codes.InvalidArgument, "ring request in no slot")
			return
		}
		in = b
	default:
		fail(codes.InvalidArgument, "ring request nowhere")
		return
	}
	dec := func(v any) error { return proto.Unmarshal(in, v.(proto.Message)) }
	rsp, err := m.handler(s, ctx, dec, nil)
	if err != nil {
		st := status.Convert(err)
		fail(st.Code(), strings.ToValidUTF8(st.Message(), "?"))
		return
	}
	out := rsp.(proto.Message)
	n := proto.Size(out)
	var buf []byte
	if n <= ringMsgSize {
		c.rkind, buf = dataInline, c.msg[:0:n]
	} else if slot, b, ok := a.alloc(n, 0); ok {
		c.rkind, c.rslot, buf = dataSlot, uint32(slot), b[:0]
	} else {
		return // dataNone
	}
	b, err := (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(buf, out)
	if err != nil || len(b) != n || cap(b) != n {
		if c.rkind == dataSlot {
			a.drop(c.rslot)
		}
		c.rkind = dataNone
		fail(codes.Internal, "ring reply did not marshal")
		return
	}
	c.rlen = uint32(n)
}
