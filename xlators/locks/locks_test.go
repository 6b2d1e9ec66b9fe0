package locks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// tenv is locks (l0) over mem (l1), with one file open twice.
type tenv struct {
	t   *testing.T
	g   *xlator.Graph
	x   *Locks
	in  *xlator.Inode
	fd  *xlator.FD // O_RDWR
	fd2 *xlator.FD // another open of the same file, O_RDWR
}

func newTenv(t *testing.T) *tenv {
	t.Helper()
	reg := xlatortest.Registry()
	Register(reg)
	g := xlatortest.Start(t, xlatortest.Chain(TypeName, "mem"), reg, nil)
	in, fd := xlatortest.Create(t, g, "f")
	fd2 := g.NewFD(in, syscall.O_RDWR, 1, false)
	e := &tenv{t: t, g: g, x: xlator.Unwrap(g.Xlator("l0")).(*Locks), in: in, fd: fd, fd2: fd2}
	t.Cleanup(func() {
		e.fd.Unref()
		e.fd2.Unref()
		in.Unref()
	})
	return e
}

// lk runs Lk through the graph's top for owner.
func (e *tenv) lk(ctx context.Context, fd *xlator.FD, owner uint64, cmd uint32, l xlator.Flock) (xlator.Flock, error) {
	c := e.g.Calls().Begin(ctx, xlator.FopLk, xlator.Creds{Pid: uint32(owner), LkOwner: owner}, 0)
	defer c.Done()
	return e.g.Top().Lk(c, fd, cmd, &l)
}

func (e *tenv) set(owner uint64, typ uint32, start, end int64) error {
	_, err := e.lk(bg, e.fd, owner, xlator.LkSet, xlator.Flock{Type: typ, Start: start, End: end, Pid: uint32(owner)})
	return err
}

func (e *tenv) flush(fd *xlator.FD, owner uint64) {
	c := e.g.Calls().Begin(context.Background(), xlator.FopFlush, xlator.Creds{LkOwner: owner}, 0)
	defer c.Done()
	if err := e.g.Top().Flush(c, fd); err != nil {
		e.t.Fatal(err)
	}
}

// held returns the file's granted fcntl locks, sorted.
func (e *tenv) held() []string {
	e.x.mu.Lock()
	defer e.x.mu.Unlock()
	var out []string
	if st := e.x.inodes[e.in]; st != nil {
		for _, g := range st.posix {
			out = append(out, fmt.Sprintf("%d:%s[%d,%d]", g.owner, typeName(g.typ), g.start, g.end))
		}
	}
	slices.Sort(out)
	return out
}

func typeName(t uint32) string {
	return map[uint32]string{xlator.LockRead: "R", xlator.LockWrite: "W"}[t]
}

const eof = xlator.LockToEOF

var bg = context.Background()

// TestPlace: locks of one owner split, merge and replace as POSIX says;
// other owners' locks are untouched.
func TestPlace(t *testing.T) {
	for _, tc := range []struct {
		what string
		ops  [][4]int64 // owner, type, start, end
		want []string
	}{
		{"merge adjacent", [][4]int64{{1, 1, 0, 9}, {1, 1, 10, 19}}, []string{"1:W[0,19]"}},
		{"merge overlapping", [][4]int64{{1, 0, 0, 9}, {1, 0, 5, 30}}, []string{"1:R[0,30]"}},
		{"split by unlock", [][4]int64{{1, 1, 0, 99}, {1, 2, 10, 19}}, []string{"1:W[0,9]", "1:W[20,99]"}},
		{"split by other type", [][4]int64{{1, 1, 0, 99}, {1, 0, 10, 19}}, []string{"1:R[10,19]", "1:W[0,9]", "1:W[20,99]"}},
		{"adjacent other type kept", [][4]int64{{1, 1, 0, 9}, {1, 0, 10, 19}}, []string{"1:R[10,19]", "1:W[0,9]"}},
		{"to eof then unlock tail", [][4]int64{{1, 1, 100, eof}, {1, 2, 200, eof}}, []string{"1:W[100,199]"}},
		{"unlock everything", [][4]int64{{1, 1, 0, 9}, {1, 0, 20, 29}, {1, 2, 0, eof}}, nil},
		{"replace with wider", [][4]int64{{1, 0, 5, 9}, {1, 1, 0, eof}}, []string{"1:W[0,9223372036854775807]"}},
		{"other owners kept", [][4]int64{{1, 0, 0, 9}, {2, 0, 0, 9}, {1, 2, 0, 9}}, []string{"2:R[0,9]"}},
		{"merge three", [][4]int64{{1, 0, 0, 4}, {1, 0, 10, 14}, {1, 0, 5, 9}}, []string{"1:R[0,14]"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			e := newTenv(t)
			for _, op := range tc.ops {
				if err := e.set(uint64(op[0]), uint32(op[1]), op[2], op[3]); err != nil {
					t.Fatalf("%v: %v", op, err)
				}
			}
			if got := e.held(); !slices.Equal(got, tc.want) {
				t.Errorf("held %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPlaceModel checks random lock and unlock sequences of three owners
// against a byte-by-byte model of who holds what, and that an owner's
// locks of one type never overlap or touch.
func TestPlaceModel(t *testing.T) {
	const size = 48
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var list []lock
		var model [4][size]uint32 // owner → byte → type (LockUnlock: none)
		for o := range model {
			for b := range model[o] {
				model[o][b] = xlator.LockUnlock
			}
		}
		for range 30 {
			owner := uint64(1 + rng.IntN(3))
			typ := uint32(rng.IntN(3))
			start := int64(rng.IntN(size))
			end := start + int64(rng.IntN(size-int(start)))
			// Only what the translator would grant: no conflict.
			if typ != xlator.LockUnlock && conflict(list, owner, typ, start, end) != nil {
				continue
			}
			list = place(list, lock{typ: typ, start: start, end: end, owner: owner})
			for b := start; b <= end; b++ {
				model[owner][b] = typ
			}
			var got [4][size]uint32
			for o := range got {
				for b := range got[o] {
					got[o][b] = xlator.LockUnlock
				}
			}
			for i, g := range list {
				for b := g.start; b <= g.end; b++ {
					if got[g.owner][b] != xlator.LockUnlock {
						t.Fatalf("round %d: owner %d holds byte %d twice: %+v", round, g.owner, b, list)
					}
					got[g.owner][b] = g.typ
				}
				for _, h := range list[i+1:] {
					if h.owner == g.owner && h.typ == g.typ && g.touches(h.start, h.end) {
						t.Fatalf("round %d: unmerged locks %+v and %+v", round, g, h)
					}
				}
			}
			if got != model {
				t.Fatalf("round %d: after %d %v [%d,%d]: locks %+v disagree with the model", round, owner, typ, start, end, list)
			}
		}
	}
}

// TestConflicts: shared locks coexist, an exclusive one conflicts where
// ranges overlap, and LkGet names the conflicting lock and its pid.
func TestConflicts(t *testing.T) {
	e := newTenv(t)
	if err := e.set(1, xlator.LockRead, 0, 99); err != nil {
		t.Fatal(err)
	}
	if err := e.set(2, xlator.LockRead, 50, 149); err != nil {
		t.Fatalf("two read locks: %v", err)
	}
	if err := e.set(3, xlator.LockWrite, 90, 95); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("write over read locks: %v, want EAGAIN", err)
	}
	if err := e.set(3, xlator.LockWrite, 150, eof); err != nil {
		t.Fatalf("write lock past the others: %v", err)
	}
	got, err := e.lk(bg, e.fd, 4, xlator.LkGet, xlator.Flock{Type: xlator.LockWrite, Start: 120, End: 200})
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != xlator.LockRead || got.Start != 50 || got.End != 149 || got.Pid != 2 {
		t.Errorf("getlk = %+v, want owner 2's read lock [50,149] pid 2", got)
	}
	got, err = e.lk(bg, e.fd, 2, xlator.LkGet, xlator.Flock{Type: xlator.LockRead, Start: 0, End: 149})
	if err != nil || got.Type != xlator.LockUnlock {
		t.Errorf("getlk of a compatible lock = %+v, %v; want LockUnlock", got, err)
	}
	// The owner's own lock never conflicts: it converts.
	if err := e.set(3, xlator.LockRead, 150, eof); err != nil {
		t.Fatal(err)
	}
	if err := e.set(2, xlator.LockWrite, 100, 149); err != nil {
		t.Fatalf("owner 2 converting its range: %v", err)
	}
}

// TestFlockNamespace: flock locks conflict among themselves only, and a
// conversion drops the old lock first.
func TestFlockNamespace(t *testing.T) {
	e := newTenv(t)
	flock := func(fd *xlator.FD, owner uint64, typ uint32) error {
		_, err := e.lk(bg, fd, owner, xlator.LkSet, xlator.Flock{Type: typ, End: eof, Whole: true})
		return err
	}
	if err := flock(e.fd, 10, xlator.LockWrite); err != nil {
		t.Fatal(err)
	}
	if err := e.set(20, xlator.LockWrite, 0, eof); err != nil {
		t.Fatalf("fcntl lock beside a flock lock: %v", err)
	}
	if err := flock(e.fd2, 11, xlator.LockRead); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("shared flock beside an exclusive one: %v", err)
	}
	if err := flock(e.fd, 10, xlator.LockRead); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	if err := flock(e.fd2, 11, xlator.LockRead); err != nil {
		t.Fatalf("two shared flocks: %v", err)
	}
	// Owner 10's upgrade fails on 11's shared lock, and loses its own.
	if err := flock(e.fd, 10, xlator.LockWrite); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("upgrade beside a shared lock: %v", err)
	}
	if err := flock(e.fd2, 11, xlator.LockWrite); err != nil {
		t.Fatalf("after the failed conversion the other owner upgrades: %v", err)
	}
	if _, err := e.lk(bg, e.fd, 10, xlator.LkGet, xlator.Flock{Type: xlator.LockWrite, End: eof, Whole: true}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("getlk of a flock lock: %v, want EINVAL", err)
	}
}

// TestWaitGranted: a waiting request shows BLOCKED in the statedump and
// is granted once the conflicting lock goes.
func TestWaitGranted(t *testing.T) {
	e := newTenv(t)
	if err := e.set(1, xlator.LockWrite, 0, eof); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.lk(bg, e.fd2, 2, xlator.LkSetWait, xlator.Flock{Type: xlator.LockWrite, Start: 10, End: 19, Pid: 2})
		done <- err
	}()
	waitFor(t, "a blocked request in the statedump", func() bool { return dumpHas(e.x, "(BLOCKED)=type=WRITE, whence=0, start=10, len=10, pid = 2") })
	if err := e.set(1, xlator.LockUnlock, 0, 9); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("granted while [10,19] is still locked: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := e.set(1, xlator.LockUnlock, 0, eof); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if got := e.held(); !slices.Equal(got, []string{"2:W[10,19]"}) {
		t.Errorf("held %v", got)
	}
	if e.x.waits.Load() != 1 {
		t.Errorf("waits = %d, want 1", e.x.waits.Load())
	}
}

// TestWaitInterrupted: a waiting request whose context ends fails with
// EINTR and leaves nothing behind.
func TestWaitInterrupted(t *testing.T) {
	e := newTenv(t)
	if err := e.set(1, xlator.LockRead, 0, eof); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.lk(ctx, e.fd2, 2, xlator.LkSetWait, xlator.Flock{Type: xlator.LockWrite, End: eof})
		done <- err
	}()
	waitFor(t, "a blocked request", func() bool { return dumpHas(e.x, "(BLOCKED)") })
	cancel()
	if err := <-done; !errors.Is(err, syscall.EINTR) {
		t.Fatalf("interrupted wait: %v, want EINTR", err)
	}
	if dumpHas(e.x, "(BLOCKED)") {
		t.Error("the interrupted request is still listed")
	}
	e.set(1, xlator.LockUnlock, 0, eof)
	e.x.mu.Lock()
	n := len(e.x.inodes)
	e.x.mu.Unlock()
	if n != 0 {
		t.Errorf("%d inodes still have lock state", n)
	}
	if e.x.interrupted.Load() != 1 {
		t.Errorf("waits-interrupted = %d", e.x.interrupted.Load())
	}
}

// TestFlushReleasesOwner: a flush through any fd drops the caller's
// fcntl locks on the file, not another owner's, not flock locks.
func TestFlushReleasesOwner(t *testing.T) {
	e := newTenv(t)
	if err := e.set(1, xlator.LockWrite, 0, 9); err != nil {
		t.Fatal(err)
	}
	if err := e.set(2, xlator.LockWrite, 10, 19); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lk(bg, e.fd, 1, xlator.LkSet, xlator.Flock{Type: xlator.LockWrite, End: eof, Whole: true}); err != nil {
		t.Fatal(err)
	}
	e.flush(e.fd2, 1) // another descriptor of the same file
	if got := e.held(); !slices.Equal(got, []string{"2:W[10,19]"}) {
		t.Errorf("after owner 1's flush: %v", got)
	}
	if !dumpHas(e.x, "flock.flock[0](ACTIVE)=type=WRITE") {
		t.Error("the flush dropped a flock lock")
	}
}

// TestReleaseDropsFdLocks: the last close of an fd drops every lock
// taken through it and wakes the requests waiting on them.
func TestReleaseDropsFdLocks(t *testing.T) {
	e := newTenv(t)
	fd3 := e.g.NewFD(e.in, syscall.O_RDWR, 1, false)
	if _, err := e.lk(bg, fd3, 7, xlator.LkSet, xlator.Flock{Type: xlator.LockWrite, End: eof}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lk(bg, fd3, 7, xlator.LkSet, xlator.Flock{Type: xlator.LockWrite, End: eof, Whole: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.lk(bg, e.fd, 8, xlator.LkSetWait, xlator.Flock{Type: xlator.LockWrite, End: eof, Whole: true})
		done <- err
	}()
	waitFor(t, "a blocked flock", func() bool { return dumpHas(e.x, "flock.flock[1](BLOCKED)") })
	fd3.Unref()
	if err := <-done; err != nil {
		t.Fatalf("waiter after release: %v", err)
	}
	if got := e.held(); got != nil {
		t.Errorf("fcntl locks after release: %v", got)
	}
	if e.x.released.Load() != 2 {
		t.Errorf("released-by-release = %d, want 2", e.x.released.Load())
	}
}

// TestAccessMode: fcntl(2)'s EBADF for a read lock on a write-only fd and
// a write lock on a read-only one; flock locks need neither.
func TestAccessMode(t *testing.T) {
	e := newTenv(t)
	ro := e.g.NewFD(e.in, syscall.O_RDONLY, 1, false)
	defer ro.Unref()
	wo := e.g.NewFD(e.in, syscall.O_WRONLY, 1, false)
	defer wo.Unref()
	if _, err := e.lk(bg, ro, 1, xlator.LkSet, xlator.Flock{Type: xlator.LockWrite, End: eof}); !errors.Is(err, syscall.EBADF) {
		t.Errorf("write lock on O_RDONLY: %v", err)
	}
	if _, err := e.lk(bg, wo, 1, xlator.LkSet, xlator.Flock{Type: xlator.LockRead, End: eof}); !errors.Is(err, syscall.EBADF) {
		t.Errorf("read lock on O_WRONLY: %v", err)
	}
	if _, err := e.lk(bg, ro, 1, xlator.LkSet, xlator.Flock{Type: xlator.LockWrite, End: eof, Whole: true}); err != nil {
		t.Errorf("exclusive flock on O_RDONLY: %v", err)
	}
}

// TestBadArgs: the graph refuses what fcntl(2) refuses before the
// translator sees it.
func TestBadArgs(t *testing.T) {
	e := newTenv(t)
	for _, tc := range []struct {
		cmd uint32
		l   xlator.Flock
	}{
		{9, xlator.Flock{Type: xlator.LockRead, End: eof}},
		{xlator.LkSet, xlator.Flock{Type: 7, End: eof}},
		{xlator.LkSet, xlator.Flock{Type: xlator.LockRead, Start: -1, End: eof}},
		{xlator.LkSet, xlator.Flock{Type: xlator.LockRead, Start: 10, End: 9}},
		{xlator.LkGet, xlator.Flock{Type: xlator.LockUnlock, End: eof}},
	} {
		if _, err := e.lk(bg, e.fd, 1, tc.cmd, tc.l); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("lk(%d, %+v) = %v, want EINVAL", tc.cmd, tc.l, err)
		}
	}
}

// TestDumpFormat: the statedump lines of a granted lock, in GlusterFS's
// posixlk shape.
func TestDumpFormat(t *testing.T) {
	e := newTenv(t)
	if _, err := e.lk(bg, e.fd, 0xabc, xlator.LkSet, xlator.Flock{Type: xlator.LockRead, Start: 5, End: 14, Pid: 42}); err != nil {
		t.Fatal(err)
	}
	kv := map[string]any{}
	for _, x := range e.x.Dump() {
		kv[x.Key] = x.Value
	}
	if kv["inode[0].path"] != "/f" || kv["inode[0].posixlk-count"] != 1 || kv["inodes-with-locks"] != 1 || kv["granted"] != uint64(1) {
		t.Errorf("dump %v", kv)
	}
	line, _ := kv["inode[0].posixlk.posixlk[0](ACTIVE)"].(string)
	if want := "type=READ, whence=0, start=5, len=10, pid = 42, owner=0000000000000abc, granted at "; !strings.HasPrefix(line, want) {
		t.Errorf("posixlk line %q, want prefix %q", line, want)
	}
}

// TestConcurrentExclusion: many owners taking and dropping overlapping
// locks with LkSetWait never hold conflicting locks at once (run with
// -race).
func TestConcurrentExclusion(t *testing.T) {
	e := newTenv(t)
	var mu sync.Mutex
	holders := map[int64]map[uint64]uint32{} // byte → owner → type, as the owners believe
	var wg sync.WaitGroup
	for o := uint64(1); o <= 6; o++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o, 7))
			for range 300 {
				start := int64(rng.IntN(8))
				end := start + int64(rng.IntN(4))
				typ := uint32(rng.IntN(2))
				if _, err := e.lk(bg, e.fd, o, xlator.LkSetWait, xlator.Flock{Type: typ, Start: start, End: end}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for b := start; b <= end; b++ {
					if holders[b] == nil {
						holders[b] = map[uint64]uint32{}
					}
					for other, ot := range holders[b] {
						if other != o && (ot == xlator.LockWrite || typ == xlator.LockWrite) {
							t.Errorf("byte %d: owner %d got %s while owner %d holds %s", b, o, typeName(typ), other, typeName(ot))
						}
					}
					holders[b][o] = typ
				}
				for b := start; b <= end; b++ {
					delete(holders[b], o)
				}
				mu.Unlock()
				if _, err := e.lk(bg, e.fd, o, xlator.LkSet, xlator.Flock{Type: xlator.LockUnlock, Start: start, End: end}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := e.held(); got != nil {
		t.Errorf("locks left: %v", got)
	}
}

func dumpHas(l *Locks, s string) bool {
	for _, kv := range l.Dump() {
		if strings.Contains(fmt.Sprintf("%s=%v", kv.Key, kv.Value), s) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
