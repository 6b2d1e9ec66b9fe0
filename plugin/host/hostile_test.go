package host_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/xlator"
)

// The tests of this file run plugin/internal/testplugin/hostile, a plugin
// that attacks its host through everything the host shares with it (see
// its doc), and check that the host survives, that data written through
// it reaches the brick unchanged, and that a plugin that breaks the
// protocol is killed and restarted and IO works again afterwards.

func hostileBin(tb testing.TB) string { return build(tb, "plugin/internal/testplugin/hostile") }

// hostileVolume starts a stack of the hostile plugin, in mode with extra
// options, over a brick of type brick ("posix" in a temporary directory,
// or "mem"). It returns the volume, the brick's directory (posix) and the
// file the plugin reports its attacks in.
func hostileVolume(t *testing.T, brick, mode, extra string) (*api.Volume, string, string) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	brickDir := filepath.Join(dir, "brick")
	b := `type = "mem"`
	if brick == "posix" {
		b = fmt.Sprintf("type = \"posix\"\n  directory = %q\n  health-check-interval = \"0s\"", brickDir)
	}
	v := open(t, hcl(`
volume "brick" {
  %s
}
volume "hostile" {
  type                = "plugin"
  path                = %q
  subvolumes          = ["brick"]
  restart-backoff     = "50ms"
  restart-backoff-max = "200ms"
  mode                = %q
  report              = %q
  marker              = %q
  %s
}
`, b, hostileBin(t), mode, report, filepath.Join(dir, "marker"), extra), registry(nil), nil)
	return v, brickDir, report
}

// attacks reads the plugin's report: the result of each attack.
func attacks(t *testing.T, report string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the plugin's report: %v", err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		m[k] = v
	}
	return m
}

// writeGood writes "goodgood" to name through v, retrying while the
// plugin is being restarted, and fails the test if it never succeeds.
func writeGood(t *testing.T, v *api.Volume, name string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var f *api.File
		if f, err = v.Create(name); err != nil {
			continue
		}
		_, err = f.Write([]byte("goodgood"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			return
		}
	}
	t.Fatalf("write %s never succeeded: %v", name, err)
}

// brickData returns the contents of name in the brick: read from the
// brick's directory for posix, through the brick translator for mem.
func brickData(t *testing.T, v *api.Volume, brickDir, name string) string {
	t.Helper()
	if brickDir != "" {
		if b, err := os.ReadFile(filepath.Join(brickDir, name)); err == nil || !os.IsNotExist(err) {
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	g := v.Stack().Graph
	brick := g.Xlator("brick")
	in := lookup(t, v, brick, name)
	defer in.Unref()
	c := call(v, xlator.FopReadv)
	defer c.Done()
	fd := g.NewFD(in, syscall.O_RDONLY, 0, false)
	defer fd.Unref()
	if err := brick.Open(c, &xlator.Loc{Inode: in}, syscall.O_RDONLY, fd); err != nil {
		t.Fatal(err)
	}
	ref, err := brick.Readv(c, fd, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Unref()
	b := make([]byte, ref.Size())
	ref.CopyTo(b)
	return string(b)
}

// dump returns h's statedump as a map.
func dump(h *host.Plugin) map[string]any {
	m := map[string]any{}
	for _, kv := range h.Dump() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestHostileWriteHost: a plugin that tries to write over the data the
// host lends it, every way a process can (a writable mapping of the
// descriptor it got, mprotect, a descriptor reopened read-write through
// /proc, pwrite, fallocate, ftruncate, new seals, /proc/self/mem), is
// refused each time, and the data reaches the brick as written. Only a
// private mapping takes a write, which stays in it.
func TestHostileWriteHost(t *testing.T) {
	for _, brick := range []string{"posix", "mem"} {
		t.Run(brick, func(t *testing.T) {
			v, brickDir, report := hostileVolume(t, brick, "write-host", "")
			h := hostOf(t, v, "hostile")
			writeGood(t, v, "f")
			if got := brickData(t, v, brickDir, "f"); got != "goodgood" {
				t.Fatalf("the brick stored %q for \"goodgood\"", got)
			}
			res := attacks(t, report)
			t.Logf("attacks: %v", res)
			if res["find the host's memory"] != "ok" {
				t.Fatalf("the writev's data was not host memory: %v", res["find the host's memory"])
			}
			if _, changed := res["DATA CHANGED"]; changed {
				t.Fatal("the plugin changed the data the host lent it")
			}
			for _, a := range []string{"mprotect the library's mapping", "mmap shared writable", "mmap shared, mprotect writable",
				"pwrite", "punch", "ftruncate", "add seal", "reopened mmap shared writable",
				"reopened mmap shared, mprotect writable", "reopened pwrite", "reopened punch", "reopened ftruncate", "/proc/self/mem"} {
				switch r, ok := res[a]; {
				case !ok:
					t.Errorf("attack %q not tried", a)
				case r == "ok":
					t.Errorf("attack %q succeeded", a)
				}
			}
			if r := res["mmap private writable"]; r != "ok" {
				t.Errorf("a private writable mapping: %s", r)
			}
			if d := dump(h); d["restarts"] != 0 || d["protocol-breaches"] != uint64(0) {
				t.Errorf("restarts %v, breaches %v: refused attacks broke nothing", d["restarts"], d["protocol-breaches"])
			}
		})
	}
}

// TestHostileTruncate: a plugin that tries to truncate, grow and reseal
// both memfds the host shares with it is refused each time, and one that
// punches a hole over its whole arena, rings included, is found out,
// killed and restarted, without a signal in the host; IO works again
// afterwards and the data reaches the brick unchanged.
func TestHostileTruncate(t *testing.T) {
	v, brickDir, report := hostileVolume(t, "mem", "truncate", "")
	h := hostOf(t, v, "hostile")
	writeGood(t, v, "f")
	waitFor(t, 10*time.Second, "the plugin's restart", func() bool { return h.Restarts() >= 1 && h.Up() })
	writeGood(t, v, "g")
	for _, name := range []string{"f", "g"} {
		if got := brickData(t, v, brickDir, name); got != "goodgood" {
			t.Fatalf("the brick stored %q for \"goodgood\" in %s", got, name)
		}
	}
	res := attacks(t, report)
	t.Logf("attacks: %v", res)
	for _, f := range []string{"arena", "host-memory"} {
		for _, a := range []string{"ftruncate 0", "ftruncate larger", "add seal", "reopened ftruncate 0", "reopened ftruncate larger"} {
			switch r, ok := res[f+" "+a]; {
			case !ok:
				t.Errorf("attack %q on the %s not tried", a, f)
			case r == "ok":
				t.Errorf("attack %q on the %s succeeded", a, f)
			}
		}
	}
	if r := res["host-memory reopened punch"]; r == "ok" {
		t.Error("a hole punched in the host's iobuf memory")
	}
	if r := res["arena reopened punch"]; r != "ok" {
		t.Errorf("punching the arena (allowed, and harmless): %s", r)
	}
	d := dump(h)
	t.Logf("last exit: %v; breaches %v", d["last-exit"], d["protocol-breaches"])
}

// TestHostileScribble: a plugin that writes random bytes all over its
// arena (slot states, ring heads, calls, slots), and again after every
// restart, for two seconds, while the host writes and reads through it,
// costs the host failed fops and restarts of the plugin, never a crash or
// a hang; once it stops, IO works again and the data reaches the brick
// unchanged. The failures are errnos: mostly ENOTCONN (the plugin killed
// for a breach) and EIO, but a scribbled reply that reads as a
// well-formed one carries whatever errno the bytes say, as any answer of
// a plugin's own fops is the plugin's to give.
func TestHostileScribble(t *testing.T) {
	v, brickDir, _ := hostileVolume(t, "posix", "scribble", `scribble-for = "2s"`)
	h := hostOf(t, v, "hostile")
	start := time.Now()
	var (
		stop    atomic.Bool
		ok      atomic.Int64
		mu      sync.Mutex
		errs    = map[syscall.Errno]int{}
		slowest time.Duration
		wg      sync.WaitGroup
	)
	payload := bytes.Repeat([]byte("x"), 64<<10)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				begin := time.Now()
				err := func() error {
					f, err := v.Create(fmt.Sprintf("w%d-%d", w, i%8))
					if err != nil {
						return err
					}
					defer f.Close()
					if _, err := f.Write(payload); err != nil {
						return err
					}
					_, err = f.ReadAt(make([]byte, 4096), 0)
					return err
				}()
				mu.Lock()
				slowest = max(slowest, time.Since(begin))
				if err == nil {
					ok.Add(1)
				} else {
					errs[errno(err)]++
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(2500*time.Millisecond - time.Since(start))
	stop.Store(true)
	wg.Wait()
	t.Logf("during the scribbling: %d rounds done, errors %v, slowest %v, restarts %d, dump %v",
		ok.Load(), errs, slowest, h.Restarts(), dump(h)["last-exit"])
	for e, n := range errs {
		if e == 0 {
			t.Errorf("%d fops failed with an error that is not an errno", n)
		}
	}
	if errs[syscall.ENOTCONN]+errs[syscall.EIO] == 0 {
		t.Errorf("no fop failed with ENOTCONN or EIO while the plugin scribbled: %v", errs)
	}
	if slowest > 10*time.Second {
		t.Errorf("a round took %v", slowest)
	}
	if h.Restarts() == 0 {
		t.Error("the scribbling plugin was never restarted")
	}
	waitFor(t, 10*time.Second, "the plugin to be up", h.Up)
	writeGood(t, v, "final")
	if got := brickData(t, v, brickDir, "final"); got != "goodgood" {
		t.Fatalf("the brick stored %q for \"goodgood\"", got)
	}
}

// TestHostileFlood: a plugin that names made-up gfids to the host by the
// thousand leaves the host's inode table within its LRU bound; one that
// opens a file again and again without releasing it is refused (EMFILE)
// once it holds a quarter of the host's open file limit, counted in the
// statedump, and what it held is released when it dies.
func TestHostileFlood(t *testing.T) {
	var rl, low syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// The bound is taken from the soft limit when the volume starts.
	low = rl
	low.Cur = min(rl.Cur, 2048)
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Error(err)
		}
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restore) // if the start fails
	v, _, report := hostileVolume(t, "mem", "flood", "flood = 17000")
	restore()
	limit := int64(low.Cur / 4)
	h := hostOf(t, v, "hostile")
	writeGood(t, v, "f")
	res := attacks(t, report)
	t.Logf("attacks: %v", res)
	if want := fmt.Sprintf("%d opened, then too many open files", limit); res["open without release"] != want {
		t.Errorf("open without release: %q, want %q", res["open without release"], want)
	}
	d := dump(h)
	if d["plugin-fds"] != limit || d["plugin-fds-refused"] != uint64(1) {
		t.Errorf("plugin-fds %v (want %d), plugin-fds-refused %v (want 1)", d["plugin-fds"], limit, d["plugin-fds-refused"])
	}
	st := v.Stack().Graph.Inodes().Stats()
	t.Logf("host inode table after the flood: %+v", st)
	if st.Linked > st.LRULimit+st.Active+16 {
		t.Errorf("host inode table holds %d inodes, its LRU bound is %d", st.Linked, st.LRULimit)
	}

	pid := h.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the restart", func() bool { return h.Restarts() == 1 && h.Up() })
	if d := dump(h); d["plugin-fds"] != int64(0) {
		t.Errorf("plugin-fds %v after the plugin died", d["plugin-fds"])
	}
}
