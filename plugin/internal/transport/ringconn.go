package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
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
	handler grpc.MethodHandler // nil: a number no method of the service has
	retry   bool               // may be repeated by gRPC
	keep    bool               // keepsOnCancel
}

// keepsOnCancel reports whether a caller of the method that is
// interrupted but not dying (xlator.WaitsAnyway, xlator.CallerDying: a
// FUSE request) keeps waiting for its reply, up to the call-timeout:
// every method but Lk, whose wait for a conflicting lock is what an
// interrupt is meant to end (the kernel restarts an interrupted SETLKW).
func keepsOnCancel(d ringMethodID) bool { return d.name != "Lk" }

// ringMethods are the methods by number (ringMethodIDs), at index number
// - 1; ringMethodIdx maps a full method name to its number.
var ringMethods, ringMethodIdx = func() ([]ringMethod, map[string]uint32) {
	handlers := map[string]grpc.MethodHandler{}
	for _, m := range pb.Xlator_ServiceDesc.Methods {
		handlers[m.MethodName] = m.Handler
	}
	var ms []ringMethod
	idx := map[string]uint32{}
	for _, d := range ringMethodIDs {
		for uint32(len(ms)) < d.id {
			ms = append(ms, ringMethod{})
		}
		h := handlers[d.name]
		ms[d.id-1] = ringMethod{name: d.name, handler: h, retry: d.retry, keep: keepsOnCancel(d)}
		if h != nil {
			idx[xlatorPrefix+d.name] = d.id
		}
	}
	return ms, idx
}()

// xlatorPrefix begins the full name of every method of the Xlator
// service.
var xlatorPrefix = "/" + pb.Xlator_ServiceDesc.ServiceName + "/"

// ringConn is a connection that makes the Xlator service's unary calls
// through a ring of a (dir: toPlugin in the host, toHost in the plugin)
// when it can, and through cc when it cannot (always, if a is nil).
// Calls by cc are bounded by limit (the ring's calls by the ring's).
type ringConn struct {
	cc    grpc.ClientConnInterface
	a     *Arena
	dir   int
	limit *Limit
}

var _ grpc.ClientConnInterface = (*ringConn)(nil)

// NewConn returns a connection that calls through ring dir of a when it
// can and by cc when it cannot (a nil: always), bounding the calls by
// limit (nil: no bound). It is what the generated client takes
// (pb.NewXlatorClient); the rings carry no streams, which go by cc.
func NewConn(cc grpc.ClientConnInterface, a *Arena, dir int, limit *Limit) grpc.ClientConnInterface {
	return &ringConn{cc: cc, a: a, dir: dir, limit: limit}
}

// Invoke makes a unary call.
func (rc *ringConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if m := ringMethodIdx[method]; m != 0 && rc.a.Acquire() {
		err, ok := rc.invoke(ctx, m, args.(proto.Message), reply.(proto.Message))
		rc.a.Release()
		if ok {
			return err
		}
	}
	if rc.a != nil && strings.HasPrefix(method, xlatorPrefix) {
		rc.a.grpcCalls[rc.dir].Add(1)
	}
	if m := ringMethodIdx[method]; m != 0 && ringMethods[m-1].keep && xlator.WaitsAnyway(ctx) {
		// gRPC gives the far side the caller's cancellation: an
		// interrupted FUSE request's call is waited for up to the
		// limit, dying caller or not.
		ctx = context.WithoutCancel(ctx)
	}
	l := rc.limit
	if l == nil {
		return rc.cc.Invoke(ctx, method, args, reply, opts...)
	}
	lctx, cancel := context.WithTimeout(ctx, l.Timeout)
	err := rc.cc.Invoke(lctx, method, args, reply, opts...)
	// The plugin's side may end the call at the deadline (gRPC sends it
	// along) before lctx's own timer has run: its DeadlineExceeded counts
	// as lctx's.
	timedOut := errors.Is(lctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
	cancel()
	if err != nil && ctx.Err() == nil && timedOut {
		l.expire()
	}
	return err
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
	kind, slot, err := c.putMsg(a, in, n)
	if err != nil {
		// No free slot, or a message that changed size under us (or
		// did not marshal): gRPC's to carry or to report.
		rg.free(c)
		return nil, false
	}
	c.op, c.method, c.dkind, c.dslot, c.dlen = opUnary, m, kind, slot, uint32(n)
	if kind == dataSlot {
		rg.holdsSlot(c, slot)
	}
	rg.join(ctx, c)
	rg.post(c)
	if err := rg.wait(ctx, c, ringMethods[m-1].keep); err != nil {
		// The request slot, if any, is the worker's to drop now.
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err(), true
		}
		if err == syscall.ETIMEDOUT { // the ring's limit: call-timeout
			return status.Error(codes.DeadlineExceeded, "call-timeout"), true
		}
		return status.Error(codes.Unavailable, err.Error()), true
	}
	defer rc.freeCall(rg, c)
	name := ringMethods[m-1].name
	// The reply is read once and checked (breach.go).
	code, rkind, rslot, rlen := c.code, c.rkind, c.rslot, c.rlen
	switch {
	case code > maxCode:
		a.breach("ring reply of %s with status code %d", name, code)
		return status.Errorf(codes.Internal, "ring reply of %s: status code %d", name, code), true
	case code != 0:
		return status.Error(codes.Code(code), string(c.msg[:min(rlen, uint32(ringMsgSize))])), true
	case rkind == dataNone: // no room for the reply
		a.ringRetries[rg.dir].Add(1)
		if ringMethods[m-1].retry {
			return nil, false
		}
		return status.Errorf(codes.ResourceExhausted, "no shared memory for the reply of %s", name), true
	}
	rsp, ok := c.msgBytes(a, rkind, rslot, rlen)
	if !ok {
		a.breach("ring reply of %s in kind %d, slot %d, %d bytes: out of bounds", name, rkind, rslot, rlen)
		return status.Errorf(codes.Internal, "ring reply of %s out of bounds", name), true
	}
	if rkind == dataSlot {
		defer a.Drop(rslot)
	}
	if err := proto.Unmarshal(rsp, out); err != nil {
		a.breach("ring reply of %s: %v", name, err)
		return status.Errorf(codes.Internal, "ring reply of %s: %v", name, err), true
	}
	return nil, true
}

// errNoSlot: a message larger than a call's message area found no free
// arena slot.
var errNoSlot = errors.New("no free arena slot")

// putMsg marshals m, of n = proto.Size(m) bytes, into c's message area or,
// when larger, into an arena slot, and says where. On error nothing is
// left taken: errNoSlot, or m did not marshal to n bytes.
func (c *ringCall) putMsg(a *Arena, m proto.Message, n int) (kind, slot uint32, err error) {
	var buf []byte
	if n <= ringMsgSize {
		kind, buf = dataInline, c.msg[:0:n]
	} else {
		s, b, ok := a.alloc(n, 0)
		if !ok {
			return 0, 0, errNoSlot
		}
		kind, slot, buf = dataSlot, uint32(s), b[:0]
	}
	b, err := (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(buf, m)
	if err == nil && (len(b) != n || cap(b) != n) {
		err = fmt.Errorf("marshalled %d bytes, sized %d", len(b), n)
	}
	if err != nil {
		if kind == dataSlot {
			a.Drop(slot)
		}
		return 0, 0, err
	}
	return kind, slot, nil
}

// msgBytes returns the n bytes of a message the peer put in kind (c's
// message area or arena slot), or false when they lie outside it.
func (c *ringCall) msgBytes(a *Arena, kind, slot, n uint32) ([]byte, bool) {
	switch kind {
	case dataInline:
		if int(n) > ringMsgSize {
			return nil, false
		}
		return c.msg[:n], true
	case dataSlot:
		return a.bytes(slot, n)
	}
	return nil, false
}

// freeCall frees a call this side filled and its request slot.
func (rc *ringConn) freeCall(rg *ring, c *ringCall) {
	if slot, ok := rg.ownSlot(c); ok {
		rc.a.Drop(slot)
	}
	rg.free(c)
}

// unaryDecoder is a worker's decoder of unary requests: the function the
// generated handler decodes its request with, made once per worker (a
// closure per call would cost an allocation), and what it last failed
// with.
type unaryDecoder struct {
	in  []byte
	err error
	fn  func(any) error
}

func (d *unaryDecoder) decode(v any) error {
	d.err = proto.Unmarshal(d.in, v.(proto.Message))
	return d.err
}

// serveUnary serves an opUnary call with s's generated handler.
func serveUnary(ctx context.Context, d *unaryDecoder, s Handler, a *Arena, c *ringCall) {
	c.code, c.rkind, c.rlen = 0, dataNone, 0
	fail := func(code codes.Code, msg string) {
		c.code = uint32(code)
		c.rlen = uint32(copy(c.msg[:], msg))
	}
	method, kind, slot, n := c.method, c.dkind, c.dslot, c.dlen
	if method == 0 || int(method) > len(ringMethods) || ringMethods[method-1].handler == nil {
		a.breach("ring call of method %d", method)
		fail(codes.Unimplemented, "unknown ring method")
		return
	}
	m := &ringMethods[method-1]
	in, ok := c.msgBytes(a, kind, slot, n)
	if !ok {
		a.breach("ring request of %s in kind %d, slot %d, %d bytes: out of bounds", m.name, kind, slot, n)
		fail(codes.InvalidArgument, "ring request out of bounds")
		return
	}
	if d.fn == nil {
		d.fn = d.decode
	}
	d.in, d.err = in, nil
	rsp, err := m.handler(s, ctx, d.fn, nil)
	if d.err != nil {
		a.breach("ring request of %s: %v", m.name, d.err)
	}
	d.in = nil
	if err != nil {
		st := status.Convert(err)
		fail(st.Code(), strings.ToValidUTF8(st.Message(), "?"))
		return
	}
	out := rsp.(proto.Message)
	size := proto.Size(out)
	rkind, rslot, err := c.putMsg(a, out, size)
	switch {
	case errors.Is(err, errNoSlot):
		return // dataNone
	case err != nil:
		fail(codes.Internal, "ring reply did not marshal")
		return
	}
	c.rkind, c.rslot, c.rlen = rkind, rslot, uint32(size)
}
