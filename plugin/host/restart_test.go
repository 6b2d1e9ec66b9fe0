package host_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestPluginKilled kills the plugin with SIGKILL in the middle of a
// workload: fops fail with ENOTCONN (or EIO) and nothing else, the host
// keeps running, the parents hear child-down and then child-up, the plugin
// is restarted, and fops succeed again, including reads of data written
// before the kill (checked against the checksums the new process reloads).
func TestPluginKilled(t *testing.T) {
	rec := &xlatortest.Log{}
	src := hcl(`
volume "brick" {
  type = "mem"
}
volume "cks" {
  type            = "plugin"
  path            = %q
  subvolumes      = ["brick"]
  block-size      = "4KiB"
  restart-backoff = "50ms"
}
volume "top" {
  type       = "rec"
  subvolumes = ["cks"]
}
`, checksumBin(t))
	v := open(t, src, registry(rec), nil)
	h := hostOf(t, v, "cks")
	before := bytes.Repeat([]byte("before the kill "), 1024)
	if f, err := v.Create("/old"); err != nil {
		t.Fatal(err)
	} else {
		f.Write(before)
		f.Close()
	}

	var (
		stop    atomic.Bool
		ok      atomic.Int64
		mu      sync.Mutex
		errs    = map[syscall.Errno]int{}
		other   []error
		wg      sync.WaitGroup
		payload = bytes.Repeat([]byte{7}, 64<<10)
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				err := func() error {
					f, err := v.Create(fmt.Sprintf("/w%d-%d", w, i))
					if err != nil {
						return err
					}
					defer f.Close()
					if _, err := f.Write(payload); err != nil {
						return err
					}
					got := make([]byte, len(payload))
					if _, err := f.ReadAt(got, 0); err != nil {
						return err
					}
					_, err = v.Stat("/old")
					return err
				}()
				if err == nil {
					ok.Add(1)
					continue
				}
				mu.Lock()
				if e := errno(err); e != 0 {
					errs[e]++
				} else {
					other = append(other, err)
				}
				mu.Unlock()
			}
		}(w)
	}
	waitFor(t, 10*time.Second, "the workload to run", func() bool { return ok.Load() > 20 })
	t.Logf("workload running")
	pid := h.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the restart", func() bool { return h.Restarts() == 1 && h.Up() })
	t.Logf("restarted")
	okAtRestart := ok.Load()
	waitFor(t, 10*time.Second, "fops to succeed again", func() bool { return ok.Load() > okAtRestart+20 })
	stop.Store(true)
	wg.Wait()

	t.Logf("errors during the kill: %v; successful rounds: %d", errs, ok.Load())
	if len(other) > 0 {
		t.Errorf("errors that are not errnos: %v", other)
	}
	for e := range errs {
		if e != syscall.ENOTCONN && e != syscall.EIO {
			t.Errorf("unexpected errno %v (%d times)", e, errs[e])
		}
	}
	if errs[syscall.ENOTCONN]+errs[syscall.EIO] == 0 {
		t.Errorf("no fop failed while the plugin was dead")
	}
	if h.Pid() == pid || h.Pid() == 0 {
		t.Errorf("pid %d after the restart, was %d", h.Pid(), pid)
	}

	// The parents heard child-down, then child-up.
	lines := rec.Lines()
	down := slices.Index(lines, "notify top child-down from cks")
	up := slices.Index(lines[max(down, 0):], "notify top child-up from cks")
	if down < 0 || up < 0 {
		t.Errorf("notifications: %s", strings.Join(lines, "; "))
	}

	// The old data reads back through the new process.
	got := make([]byte, len(before))
	f, err := v.Open("/old")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, before) {
		t.Fatalf("old data after the restart: %v", err)
	}
	var state, last any
	for _, kv := range h.Dump() {
		switch kv.Key {
		case "state":
			state = kv.Value
		case "last-exit":
			last = kv.Value
		}
	}
	if state != "running" || last == nil {
		t.Errorf("dump: state %v, last-exit %v", state, last)
	}
	t.Logf("last-exit: %v", last)
}
