package api_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// waiter holds a lookup of a name that starts with "wait", and every
// readv, until the call's context is done (a translator that honours
// cancellation, as a plugin's transport does), then fails with
// ECANCELED or ETIMEDOUT as the context says. Readv waits only while
// waitReads is set.
type waiter struct{ xlator.Base }

var (
	waitReads atomic.Bool
	waiting   atomic.Int32
)

func (w *waiter) wait(c *xlator.Call) error {
	waiting.Add(1)
	defer waiting.Add(-1)
	<-c.Ctx.Done()
	if errors.Is(c.Ctx.Err(), context.DeadlineExceeded) {
		return syscall.ETIMEDOUT
	}
	return syscall.ECANCELED
}

func (w *waiter) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if strings.HasPrefix(loc.Name, "wait") {
		return xlator.Iatt{}, w.wait(c)
	}
	return w.Base.Lookup(c, loc)
}

func (w *waiter) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if waitReads.Load() {
		return nil, w.wait(c)
	}
	return w.Base.Readv(c, fd, size, off)
}

func openWaiter(t *testing.T) *api.Volume {
	t.Helper()
	reg := xlatortest.Registry()
	reg.MustRegister(xlator.Type{Name: "waiter", MinChildren: 1, MaxChildren: 1, New: func() xlator.Xlator { return &waiter{} }})
	p := filepath.Join(t.TempDir(), "waiter.hcl")
	src := "volume \"bottom\" {\n  type = \"mem\"\n}\nvolume \"top\" {\n  type = \"waiter\"\n  subvolumes = [\"bottom\"]\n}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := api.Open(p, &api.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// TestWithContext: a view's fops carry its context. When the deadline
// passes or the context is cancelled, a fop waiting in the graph gives
// up, and the method returns an *fs.PathError that errors.Is matches
// against both the errno (ETIMEDOUT, ECANCELED) and the context's error;
// the volume itself and other views go on working meanwhile. A File
// opened through a view carries its context, File.WithContext makes a
// view of an open file that shares its offset, and the views share the
// umask.
func TestWithContext(t *testing.T) {
	v := openWaiter(t)
	f, err := v.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	for _, end := range []struct {
		name  string
		ctx   func() (context.Context, context.CancelFunc)
		errno syscall.Errno
		cause error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, syscall.ETIMEDOUT, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, syscall.ECANCELED, context.Canceled},
	} {
		for _, op := range []struct {
			name string
			do   func(ctx context.Context) error
		}{
			{"Volume.Stat", func(ctx context.Context) error {
				_, err := v.WithContext(ctx).Stat("/wait")
				return err
			}},
			{"File.ReadAt", func(ctx context.Context) error {
				waitReads.Store(true)
				defer waitReads.Store(false)
				_, err := f.WithContext(ctx).ReadAt(make([]byte, 4), 0)
				return err
			}},
			{"Open then Read", func(ctx context.Context) error {
				g, err := v.WithContext(ctx).Open("/f")
				if err != nil {
					return err
				}
				defer g.Close()
				waitReads.Store(true)
				defer waitReads.Store(false)
				_, err = g.Read(make([]byte, 4))
				return err
			}},
		} {
			t.Run(end.name+"/"+op.name, func(t *testing.T) {
				ctx, cancel := end.ctx()
				defer cancel()
				errc := make(chan error, 1)
				start := time.Now()
				go func() { errc <- op.do(ctx) }()
				// Meanwhile the volume serves other calls.
				deadline := time.Now().Add(5 * time.Second)
				for waiting.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if _, err := v.Stat("/f"); err != nil {
					t.Errorf("stat beside a waiting call: %v", err)
				}
				var err error
				select {
				case err = <-errc:
				case <-time.After(5 * time.Second):
					t.Fatal("the call did not give up")
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("the call gave up after %v", d)
				}
				if !errors.Is(err, end.errno) || !errors.Is(err, end.cause) {
					t.Fatalf("err = %v, want %v and %v", err, end.errno, end.cause)
				}
				if _, ok := err.(interface{ Unwrap() error }); !ok {
					t.Errorf("err %T is not an *fs.PathError", err)
				}
			})
		}
	}

	t.Run("views", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		vv := v.WithContext(ctx)
		if vv.Context() != ctx || v.Context() != context.Background() {
			t.Errorf("Context: view %v, volume %v", vv.Context(), v.Context())
		}
		g, err := v.Open("/f")
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		gv := g.WithContext(ctx)
		buf := make([]byte, 3)
		if _, err := io.ReadFull(gv, buf); err != nil || string(buf) != "012" {
			t.Fatalf("read through the view: %q %v", buf, err)
		}
		if _, err := io.ReadFull(g, buf); err != nil || string(buf) != "345" {
			t.Fatalf("read after the view's, sharing the offset: %q %v", buf, err)
		}
		vv.SetUmask(0o077)
		if _, err := v.Create("/umask"); err != nil {
			t.Fatal(err)
		}
		if fi, err := v.Stat("/umask"); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("file made through the volume after the view's SetUmask(077): %v %v", fi.Mode(), err)
		}
		v.SetUmask(0o022)
	})
}
