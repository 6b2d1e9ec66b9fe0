package xlator_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/xlator"
)

// TestBeginCancel: a call begun with a cancel channel has a Ctx that is
// done exactly when the channel is closed, with context.Canceled; a nil
// channel gives a context that is never done; a Fork shares its parent's
// context; a recycled call does not carry the previous request's channel.
func TestBeginCancel(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	for _, tc := range []struct {
		name   string
		cancel chan struct{}
		done   bool
	}{
		{"nil channel", nil, false},
		{"open channel", make(chan struct{}), false},
		{"closed channel", closed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := xlator.NewCallPool(nil)
			defer p.Close()
			c := p.BeginCancel(tc.cancel, xlator.FopLookup, xlator.Creds{Uid: 7}, 42)
			defer c.Done()
			check := func(who string, ctx context.Context) {
				t.Helper()
				if ctx == nil {
					t.Fatalf("%s: nil Ctx", who)
				}
				if tc.cancel == nil && ctx.Done() != nil {
					t.Errorf("%s: a nil channel gave a Done channel", who)
				}
				select {
				case <-ctx.Done():
					if !tc.done {
						t.Errorf("%s: done, the channel is open", who)
					}
				default:
					if tc.done {
						t.Errorf("%s: not done, the channel is closed", who)
					}
				}
				want := error(nil)
				if tc.done {
					want = context.Canceled
				}
				if err := ctx.Err(); err != want {
					t.Errorf("%s: Err = %v, want %v", who, err, want)
				}
				if _, ok := ctx.Deadline(); ok {
					t.Errorf("%s: has a deadline", who)
				}
			}
			check("call", c.Ctx)
			f := c.Fork()
			check("fork", f.Ctx)
			f.Done()
			if c.Unique != 42 || c.Uid != 7 || c.Fop != xlator.FopLookup {
				t.Errorf("call fields: unique %d uid %d fop %v", c.Unique, c.Uid, c.Fop)
			}
		})
	}

	// Closing the channel of a running call cancels it; the next call
	// from the pool (the same Call, recycled) is not cancelled.
	p := xlator.NewCallPool(nil)
	defer p.Close()
	ch := make(chan struct{})
	c := p.BeginCancel(ch, xlator.FopReadv, xlator.Creds{}, 0)
	ctx := c.Ctx
	close(ch)
	if ctx.Err() != context.Canceled {
		t.Fatalf("after close: Err = %v", ctx.Err())
	}
	c.Done()
	c = p.BeginCancel(make(chan struct{}), xlator.FopReadv, xlator.Creds{}, 0)
	if err := c.Ctx.Err(); err != nil {
		t.Errorf("the next call inherited the cancellation: %v", err)
	}
	c.Done()
	//lint:ignore SA1012 Begin documents nil as Background: that is what is tested
	c = p.Begin(nil, xlator.FopReadv, xlator.Creds{}, 0)
	if c.Ctx.Done() != nil {
		t.Errorf("Begin(nil) after BeginCancel: Ctx has a Done channel")
	}
	c.Done()
}

// TestBeginCancelAllocatesNothing: a front end that begins every call
// with its request's cancel channel allocates nothing for it.
func TestBeginCancelAllocatesNothing(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: calls, inodes and fds allocate with new")
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := xlator.NewCallPool(nil)
	defer p.Close()
	ch := make(chan struct{})
	p.BeginCancel(ch, xlator.FopReadv, xlator.Creds{}, 0).Done() // warm the pool
	if n := testing.AllocsPerRun(1000, func() {
		c := p.BeginCancel(ch, xlator.FopReadv, xlator.Creds{}, 0)
		if c.Ctx.Err() != nil {
			t.Fatal("cancelled")
		}
		c.Done()
	}); n != 0 {
		t.Errorf("BeginCancel and Done: %v allocs/op", n)
	}
}

// BenchmarkBegin: beginning and ending a call as the FUSE bridge does
// (BeginCancel with its request's cancel channel) against the baseline,
// Begin with context.Background: what carrying the request's context
// costs every fop.
func BenchmarkBegin(b *testing.B) {
	ch := make(chan struct{})
	for _, tc := range []struct {
		name  string
		begin func(p *xlator.CallPool) *xlator.Call
	}{
		{"ctx=background", func(p *xlator.CallPool) *xlator.Call {
			return p.Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 1)
		}},
		{"ctx=cancel-channel", func(p *xlator.CallPool) *xlator.Call {
			return p.BeginCancel(ch, xlator.FopReadv, xlator.Creds{}, 1)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := xlator.NewCallPool(nil)
			defer p.Close()
			b.ReportAllocs()
			for b.Loop() {
				tc.begin(p).Done()
			}
		})
	}
}

// TestWaitsAnyway: a front end's cancel-channel call (a FUSE request)
// carries the mark, a fork of it too; an API call's context does not.
func TestWaitsAnyway(t *testing.T) {
	p := xlator.NewCallPool(nil)
	defer p.Close()
	c := p.BeginCancel(make(chan struct{}), xlator.FopRename, xlator.Creds{}, 0)
	f := c.Fork()
	if !xlator.WaitsAnyway(c.Ctx) || !xlator.WaitsAnyway(f.Ctx) {
		t.Error("a FUSE request's call is not marked")
	}
	f.Done()
	c.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := p.Begin(ctx, xlator.FopRename, xlator.Creds{}, 0)
	if xlator.WaitsAnyway(a.Ctx) {
		t.Error("an API call is marked")
	}
	a.Done()
}

// TestCallerDying: an interrupted FUSE request of a living process is not
// dying; of a killed one (a zombie, not yet reaped) and of one gone it is;
// an API call's context always is (its end is its caller's word).
func TestCallerDying(t *testing.T) {
	p := xlator.NewCallPool(nil)
	defer p.Close()
	closed := make(chan struct{})
	close(closed)
	pidCall := func(pid int) *xlator.Call {
		return p.BeginCancel(closed, xlator.FopLookup, xlator.Creds{Pid: uint32(pid)}, 0)
	}
	c := pidCall(os.Getpid())
	if xlator.CallerDying(c.Ctx) {
		t.Error("this living process is taken as dying")
	}
	c.Done()

	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep(1): %v", err)
	}
	cmd.Process.Kill()
	// Not reaped yet: a zombie, once the kill lands.
	c = pidCall(cmd.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for !xlator.CallerDying(c.Ctx) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !xlator.CallerDying(c.Ctx) {
		t.Error("a killed process is not taken as dying")
	}
	c.Done()
	cmd.Wait()
	c = pidCall(cmd.Process.Pid)
	if !xlator.CallerDying(c.Ctx) {
		t.Error("a process that is gone is not taken as dying")
	}
	c.Done()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := p.Begin(ctx, xlator.FopLookup, xlator.Creds{Pid: uint32(os.Getpid())}, 0)
	if !xlator.CallerDying(a.Ctx) {
		t.Error("an API call's ended context is not final")
	}
	a.Done()
}
