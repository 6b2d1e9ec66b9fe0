package transport

import (
	"context"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// testGraph is a host's graph for the tests of this file: one mem volume,
// its iobufs in a Shared pool, as in a graph with a plugin volume.
type testGraph struct {
	g    *xlator.Graph
	pool *iobuf.Pool
}

func newTestGraph(tb testing.TB) *testGraph {
	pool, err := iobuf.New(iobuf.Config{Shared: true, SharedSize: 64 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pool.Close() })
	var env *xlator.Env
	if _, ok := tb.(*testing.F); ok {
		env = xlatortest.NewEnv(nil) // a fuzz target may not log through f
	} else {
		env = xlatortest.NewEnv(tb)
	}
	env.Iobufs = pool
	g := xlatortest.Start(tb, xlatortest.Chain("mem"), xlatortest.Registry(), env)
	return &testGraph{g: g, pool: pool}
}

// testHost is an arena as a host has it for a plugin process, without
// the process: its lends are recorded against the graph's Shared pool,
// host workers serve the toHost ring with a server over the graph, and a
// breach is recorded instead of killing anything. The test plays the
// plugin: it serves the toPlugin ring and makes the toHost ring's calls
// itself, as it pleases.
type testHost struct {
	*testGraph
	a   *Arena
	mu  sync.Mutex
	why []string
}

func (tg *testGraph) host(tb testing.TB) *testHost {
	a, err := NewArena("test", 4)
	if err != nil {
		tb.Fatal(err)
	}
	a.peerMaps.Store(true) // the test plays the plugin too, which maps it
	th := &testHost{testGraph: tg, a: a}
	a.host.pool = tg.pool
	a.onBreach = func(why string) {
		th.mu.Lock()
		th.why = append(th.why, why)
		th.mu.Unlock()
	}
	a.Serve(ToHost, NewTestServer(tg.g, a))
	atomic.StoreUint32(&a.rings[ToPlugin].head.ready, ringMagic)
	atomic.StoreUint32(&a.rings[ToPlugin].head.hostMem, ringMagic)
	return th
}

// breaches returns the breaches reported so far.
func (th *testHost) breaches() []string {
	th.mu.Lock()
	defer th.mu.Unlock()
	return append([]string(nil), th.why...)
}

// waitBreach waits for the first breach to be reported and returns it.
func (th *testHost) waitBreach(tb testing.TB) string {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(th.breaches()) == 0 {
		if time.Now().After(deadline) {
			tb.Fatal("no breach reported")
		}
		time.Sleep(time.Millisecond)
	}
	return th.breaches()[0]
}

// downConn is the gRPC connection of a plugin that is not there.
type downConn struct{}

func (downConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return status.Error(codes.Unavailable, "no gRPC in this test")
}

func (downConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unavailable, "no gRPC in this test")
}

// hostStat makes a Stat through the host's ring to the plugin, as Host
// does, and returns its error.
func (th *testHost) hostStat() error {
	cl := pb.NewXlatorClient(NewConn(downConn{}, th.a, ToPlugin, nil))
	_, err := cl.Stat(context.Background(), &pb.LocReq{H: &pb.Header{}, Loc: &pb.Loc{}})
	return err
}

// takeHostCall takes, as the plugin's worker, the next call the host
// posts on the toPlugin ring.
func (th *testHost) takeHostCall(tb testing.TB) (*ring, *ringCall) {
	tb.Helper()
	rg := th.a.rings[ToPlugin]
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c := rg.take(); c != nil {
			return rg, c
		}
		if time.Now().After(deadline) {
			tb.Fatal("the host posted no call")
		}
		yieldCPU()
	}
}

// pluginCall posts, as the plugin, a call on the toHost ring filled by
// fill.
func (th *testHost) pluginCall(tb testing.TB, fill func(c *ringCall)) {
	tb.Helper()
	rg := th.a.rings[ToHost]
	c := rg.claim()
	if c == nil {
		tb.Fatal("no free call on the toHost ring")
	}
	fill(c)
	rg.post(c)
}

// statMethod is the ring method index of Stat.
var statMethod = ringMethodIdx[xlatorPrefix+"Stat"]

// TestRingBreaches: every way this file knows for a plugin to break the
// protocol through the shared memory is found by the host, reported once
// as a breach naming what was wrong, and fails the host's call it hit
// with an error; the arena is dead after it.
func TestRingBreaches(t *testing.T) {
	tg := newTestGraph(t)
	// reply plays a plugin worker that answers the host's Stat with
	// what set writes into the call.
	reply := func(set func(c *ringCall)) func(*testing.T, *testHost) error {
		return func(t *testing.T, th *testHost) error {
			errc := make(chan error, 1)
			go func() { errc <- th.hostStat() }()
			rg, c := th.takeHostCall(t)
			set(c)
			rg.complete(c)
			return <-errc
		}
	}
	// state plays a plugin that writes s into the state word of the
	// host's call while the host waits for it.
	state := func(s uint32) func(*testing.T, *testHost) error {
		return func(t *testing.T, th *testHost) error {
			errc := make(chan error, 1)
			go func() { errc <- th.hostStat() }()
			rg, c := th.takeHostCall(t)
			atomic.StoreUint32(rg.st(c), s)
			futexWake(rg.st(c), 1)
			return <-errc
		}
	}
	// call plays a plugin that posts a call filled by fill.
	call := func(fill func(c *ringCall)) func(*testing.T, *testHost) error {
		return func(t *testing.T, th *testHost) error {
			th.pluginCall(t, fill)
			return nil
		}
	}
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *testHost) error
		want string // in the breach's description
	}{
		{"garbage in the host's call while it waits", state(0xdeadbeef), "while its caller waits"},
		{"the host's call freed while it waits", state(callFree), "while its caller waits"},
		{"the host's call abandoned by the plugin", state(callAbandoned), "while its caller waits"},
		{"garbage in every call the host could claim", func(t *testing.T, th *testHost) error {
			rg := th.a.rings[ToPlugin]
			for i := range rg.states {
				atomic.StoreUint32(&rg.states[i].v, 0x12345)
			}
			return th.hostStat()
		}, "in state 0x12345"},
		{"garbage in a call of the ring the host serves", func(t *testing.T, th *testHost) error {
			rg := th.a.rings[ToHost]
			atomic.StoreUint32(&rg.states[3].v, 0xabcdef)
			atomic.AddUint32(&rg.head.seq, 1)
			futexWake(&rg.head.seq, 1<<30)
			return nil
		}, "call 3 of ring 1 in state 0xabcdef"},
		{"reply with a status code out of range", reply(func(c *ringCall) { c.code = 99 }), "status code 99"},
		{"reply in no known place", reply(func(c *ringCall) { c.code, c.rkind = 0, 7 }), "kind 7"},
		{"reply longer than the message area", reply(func(c *ringCall) {
			c.code, c.rkind, c.rlen = 0, dataInline, uint32(ringMsgSize+1)
		}), "out of bounds"},
		{"reply in a slot outside the arena", reply(func(c *ringCall) {
			c.code, c.rkind, c.rslot, c.rlen = 0, dataSlot, 1<<20, 10
		}), "out of bounds"},
		{"undecodable reply", reply(func(c *ringCall) {
			c.code, c.rkind, c.rlen = 0, dataInline, 3
			copy(c.msg[:], []byte{0xff, 0xff, 0xff})
		}), "ring reply of Stat"},
		{"call with an unknown op", call(func(c *ringCall) { c.op = 99 }), "op 99"},
		{"readv larger than a slot", call(func(c *ringCall) { c.op, c.size = opReadv, ShmSlotSize+1 }), "ring readv of"},
		{"readv of a negative size", call(func(c *ringCall) { c.op, c.size = opReadv, -1 }), "ring readv of -1"},
		{"writev data of an unknown kind", call(func(c *ringCall) { c.op, c.dkind = opWritev, 9 }), "kind 9"},
		{"writev data outside the arena", call(func(c *ringCall) {
			c.op, c.dkind, c.dslot, c.dlen = opWritev, dataSlot, 1<<20, 10
		}), "outside the arena"},
		{"writev data longer than a slot", call(func(c *ringCall) {
			c.op, c.dkind, c.dslot, c.dlen = opWritev, dataSlot, 0, ShmSlotSize+1
		}), "outside the arena"},
		{"writev of host memory it was not lent", call(func(c *ringCall) {
			c.op, c.dkind, c.doff, c.dlen = opWritev, dataHost, 0, 8
		}), "did not lend it"},
		{"unary call of an unknown method", call(func(c *ringCall) { c.op, c.method = opUnary, 999 }), "method 999"},
		{"unary request out of bounds", call(func(c *ringCall) {
			c.op, c.method, c.dkind, c.dlen = opUnary, statMethod, dataInline, uint32(ringMsgSize+1)
		}), "out of bounds"},
		{"undecodable unary request", call(func(c *ringCall) {
			c.op, c.method, c.dkind, c.dlen = opUnary, statMethod, dataInline, 3
			copy(c.msg[:], []byte{0xff, 0xff, 0xff})
		}), "ring request of Stat"},
		{"release of host data never lent", call(func(c *ringCall) { c.op, c.dtoken = opRelease, 77 }), "release of host data 77"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := tg.host(t)
			defer th.a.Close()
			err := tc.run(t, th)
			why := th.waitBreach(t)
			if !strings.Contains(why, tc.want) {
				t.Errorf("breach %q, want it to mention %q", why, tc.want)
			}
			if err != nil && status.Code(err) != codes.Unavailable && status.Code(err) != codes.Internal {
				t.Errorf("the host's call failed with %v", err)
			}
			if !th.a.dead.Load() {
				t.Error("the arena is still alive after a breach")
			}
			if err := th.hostStat(); err == nil {
				t.Error("a call through a broken arena succeeded")
			}
			time.Sleep(10 * time.Millisecond) // late breaches
			if n := len(th.breaches()); n != 1 {
				t.Errorf("%d breaches reported, want 1: %q", n, th.breaches())
			}
		})
	}
}

// TestRingRepliesChecked: the checks of a readv's and a writev's reply
// let through exactly the replies a plugin may give.
func TestRingRepliesChecked(t *testing.T) {
	fresh := func() *Arena {
		a, err := NewArena("test", 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		return a
	}
	for _, tc := range []struct {
		name     string
		err      error
		breached bool
	}{
		{"readv of all asked", checkRead(fresh(), 100, 100, 0), false},
		{"readv of less", checkRead(fresh(), 0, 100, 0), false},
		{"readv error", checkRead(fresh(), 0, 100, uint32(syscall.ENOENT)), false},
		{"readv of more than asked", checkRead(fresh(), 101, 100, 0), true},
		{"readv errno out of range", checkRead(fresh(), 0, 100, 512), true},
		{"readv of the largest errno", checkRead(fresh(), 0, 100, 511), false},
		{"writev of all", checkWritten(fresh(), 100, 100, 0, 0), false},
		{"writev kept", checkWritten(fresh(), 100, 100, 0, replyKept), false},
		{"writev short, with an error", checkWritten(fresh(), 10, 100, uint32(syscall.ENOSPC), 0), false},
		{"writev of more than sent", checkWritten(fresh(), 101, 100, 0, 0), true},
		{"writev of a negative count", checkWritten(fresh(), -1, 100, 0, 0), true},
		{"writev errno out of range", checkWritten(fresh(), 0, 100, 1<<20, 0), true},
		{"writev with unknown flags", checkWritten(fresh(), 100, 100, 0, 6), true},
	} {
		if got := tc.err != nil; got != tc.breached {
			t.Errorf("%s: error %v, want a breach %v", tc.name, tc.err, tc.breached)
		} else if got && tc.err != syscall.EIO {
			t.Errorf("%s: error %v, want EIO", tc.name, tc.err)
		}
	}
}

// TestHostMemLends: the host keeps host data a plugin kept past its
// writev until the plugin releases it (the release may overtake the
// reply), refuses to lend more once the plugin keeps maxKeptLends, lets
// the plugin wind back only data lent to it and not yet returned, and
// drops what a dead plugin kept.
func TestHostMemLends(t *testing.T) {
	th := newTestGraph(t).host(t)
	a := th.a
	data := th.pool.FromBytes([]byte("lent to the plugin"))
	defer data.Unref()
	off, ok := a.HostOffset(data)
	if !ok {
		t.Fatal("pool data not in host memory")
	}
	n := data.Size()

	// In flight: any part of the data may come back, nothing else.
	tok, ok := a.lend(off, n, data)
	if !ok {
		t.Fatal("lend refused")
	}
	for _, r := range []struct {
		off  uint64
		n    uint32
		want bool
	}{{off, uint32(n), true}, {off + 5, 3, true}, {off + uint64(n) - 1, 1, true},
		{off + 5, uint32(n), false}, {off - 1, 2, false}, {off + uint64(n), 1, false}, {off + 1<<20, 8, false}} {
		ref, got := a.lentRef(r.off, r.n)
		if got != r.want {
			t.Errorf("lentRef(%d, %d) = %v, want %v", r.off-off, r.n, got, r.want)
		}
		if got {
			ref.Unref()
		}
	}
	a.settle(tok, false)
	if _, ok := a.lentRef(off, 1); ok || a.keptCount() != 0 || data.Refs() != 1 {
		t.Fatalf("after the reply: lent %v, kept %d, refs %d", ok, a.keptCount(), data.Refs())
	}

	// Kept: the host holds a reference until the release.
	tok, _ = a.lend(off, n, data)
	a.settle(tok, true)
	if data.Refs() != 2 || a.keptCount() != 1 {
		t.Fatalf("kept: refs %d, kept %d", data.Refs(), a.keptCount())
	}
	if ref, ok := a.lentRef(off, 4); !ok {
		t.Fatal("kept data cannot be wound back")
	} else {
		ref.Unref()
	}
	a.released(tok)
	if data.Refs() != 1 || a.keptCount() != 0 {
		t.Fatalf("released: refs %d, kept %d", data.Refs(), a.keptCount())
	}

	// The release overtakes the reply: nothing is kept.
	tok, _ = a.lend(off, n, data)
	a.released(tok)
	a.settle(tok, true)
	if data.Refs() != 1 || a.keptCount() != 0 {
		t.Fatalf("early release: refs %d, kept %d", data.Refs(), a.keptCount())
	}

	// Bounds: past maxKeptLends kept, or maxKeptBytes of them, lends
	// are refused and counted; a release makes room.
	if _, ok := a.lend(off, maxKeptBytes+1, data); ok {
		t.Fatal("lend of more than maxKeptBytes accepted")
	}
	first := uint64(0)
	for i := 0; i < maxKeptLends; i++ {
		tok, ok := a.lend(off, n, data)
		if !ok {
			t.Fatalf("lend %d refused", i)
		}
		a.settle(tok, true)
		if i == 0 {
			first = tok
		}
	}
	if _, ok := a.lend(off, n, data); ok {
		t.Fatal("lend past maxKeptLends accepted")
	}
	if got := a.host.refused.Load(); got != 2 {
		t.Errorf("refused lends: %d, want 2", got)
	}
	a.released(first)
	tok, ok = a.lend(off, n, data)
	if !ok {
		t.Fatal("lend refused after a release")
	}
	a.settle(tok, false)
	if len(th.breaches()) != 0 {
		t.Fatalf("breaches: %q", th.breaches())
	}

	// A token released twice is a breach; a dead plugin's data is let
	// go of.
	a.released(first)
	if why := th.waitBreach(t); !strings.Contains(why, "does not hold") {
		t.Errorf("breach %q", why)
	}
	a.Close()
	if data.Refs() != 1 {
		t.Fatalf("after close: refs %d", data.Refs())
	}
}

// TestRingScribble: random bytes written all over an arena (slot states,
// ring heads, call states, calls, slots) while both sides make and serve
// calls through it never crash or hang the host: every call returns, the
// breach is found and reported, and every worker stops. It goes on for
// rounds of a fresh arena each, as a plugin restarted after every breach
// that scribbles again, for a second (100 ms with -short).
func TestRingScribble(t *testing.T) {
	tg := newTestGraph(t)
	d := time.Second
	if testing.Short() {
		d = 100 * time.Millisecond
	}
	rounds, breached := 0, 0
	var slowest time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); rounds++ {
		th := tg.host(t)
		a := th.a
		a.Serve(ToPlugin, NewTestServer(tg.g, a)) // the plugin's side, in process
		var stop atomic.Bool
		var wg sync.WaitGroup
		for dir := range 2 {
			for range 2 {
				wg.Go(func() {
					cl := pb.NewXlatorClient(NewConn(downConn{}, a, dir, nil))
					for !stop.Load() {
						start := time.Now()
						_, _ = cl.Stat(context.Background(), &pb.LocReq{H: &pb.Header{}, Loc: &pb.Loc{}})
						if d := time.Since(start); d > 2*time.Second {
							t.Errorf("a call took %v", d)
						}
					}
				})
			}
		}
		scribbled := make(chan struct{})
		go func() {
			defer close(scribbled)
			r := rand.New(rand.NewSource(int64(rounds)))
			mem := unsafe.Slice((*byte)(unsafe.Pointer(&a.mem[0])), len(a.mem))
			for i := 0; !stop.Load(); i++ {
				off := r.Intn(len(mem) - 64)
				if i%2 == 0 {
					off = r.Intn(shmHeader - 64) // the header more often than the slots
				}
				r.Read(mem[off : off+1+r.Intn(64)])
			}
		}()
		deadline := time.Now().Add(200 * time.Millisecond)
		for !a.broken.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		stop.Store(true)
		<-scribbled
		start := time.Now()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("callers hang on a scribbled arena")
		}
		if a.broken.Load() {
			breached++
		}
		a.Close()
		for a.refs.Load() > 0 {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("workers hang on a scribbled arena (%d references)", a.refs.Load())
			}
			time.Sleep(time.Millisecond)
		}
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("%d rounds, %d breached; slowest stop %v", rounds, breached, slowest)
	if breached == 0 {
		t.Fatal("no breach found in a scribbled arena")
	}
}

// FuzzRingServe: any bytes a plugin writes as a call on the toHost ring
// are served by the host without a crash or a hang.
func FuzzRingServe(f *testing.F) {
	seed := func(fill func(c *ringCall)) []byte {
		var c ringCall
		fill(&c)
		return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&c)), ringCallSize)...)
	}
	f.Add(seed(func(c *ringCall) { c.op, c.size = opReadv, 4096 }))
	f.Add(seed(func(c *ringCall) { c.op, c.dkind, c.dslot, c.dlen = opWritev, dataSlot, 1, 100 }))
	f.Add(seed(func(c *ringCall) { c.op, c.dkind, c.doff, c.dlen = opWritev, dataHost, 4096, 100 }))
	f.Add(seed(func(c *ringCall) { c.op, c.method, c.dkind = opUnary, statMethod, dataInline }))
	f.Add(seed(func(c *ringCall) { c.op, c.dtoken = opRelease, 1 }))
	f.Add([]byte{})
	tg := newTestGraph(f)
	f.Fuzz(func(t *testing.T, call []byte) {
		th := tg.host(t)
		defer th.a.Close()
		rg := th.a.rings[ToHost]
		c := rg.claim()
		copy(unsafe.Slice((*byte)(unsafe.Pointer(c)), ringCallSize), call)
		rg.post(c)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rg.wait(ctx, c, false); err == syscall.ETIMEDOUT {
			t.Fatal("the host never answered the call")
		}
	})
}

// TestErrOf: an errno from the far side that no system call returns (a
// FUSE reply could not carry it) becomes EIO.
func TestErrOf(t *testing.T) {
	for _, tc := range []struct {
		errno uint32
		want  error
	}{{0, nil}, {2, syscall.ENOENT}, {511, syscall.Errno(511)}, {512, syscall.EIO}, {1 << 31, syscall.EIO}} {
		if got := ErrOf(tc.errno); got != tc.want {
			t.Errorf("errOf(%d) = %v, want %v", tc.errno, got, tc.want)
		}
	}
}
