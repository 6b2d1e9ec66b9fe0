package posix

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// health runs the periodic brick check and turns its result into graph
// events: child-down (and EIO for every fop) when a check fails, child-up
// when one succeeds again. Transitions happen on the checker goroutine
// only, after the first answer to parent-up.
type health struct {
	p    *Posix
	down atomic.Bool // fops fail with EIO

	mu      sync.Mutex
	baseUp  bool // Base has sent child-up once (it owns the first report)
	stopped bool
	stopCh  chan struct{}
	done    chan struct{}
	lastErr string

	checks, failures atomic.Int64
}

func (h *health) init(p *Posix) { h.p = p }

// checkBrick stats the brick root and writes the health file in the
// private directory, creating that directory when missing. A read-only
// brick is only stat'ed.
func (p *Posix) checkBrick() error {
	var st unix.Stat_t
	if err := unix.Fstat(p.root.fd, &st); err != nil {
		return fmt.Errorf("stat brick root: %w", err)
	}
	if st.Nlink == 0 {
		return fmt.Errorf("brick directory %s was removed", p.dir)
	}
	if p.readOnly {
		return nil
	}
	dfd, err := p.privateDir()
	if err != nil {
		return fmt.Errorf("open %s: %w", internalDir, err)
	}
	defer unix.Close(dfd)
	fd, err := openBeneath(dfd, healthFile, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("open %s/%s: %w", internalDir, healthFile, err)
	}
	defer unix.Close(fd)
	stamp := strconv.FormatInt(time.Now().Unix(), 10) + "\n"
	if _, err := unix.Write(fd, []byte(stamp)); err != nil {
		return fmt.Errorf("write %s/%s: %w", internalDir, healthFile, err)
	}
	return nil
}

// reportUp clears the failure and tells the parents the brick is up.
func (h *health) reportUp() {
	h.down.Store(false)
	h.mu.Lock()
	first := !h.baseUp
	h.baseUp = true
	h.lastErr = ""
	h.mu.Unlock()
	if first {
		// Base answers parent-up with child-up for a leaf and records it.
		h.p.Base.Notify(xlator.EventParentUp, nil)
	} else {
		h.p.NotifyParents(xlator.EventChildUp)
	}
}

// reportDown fails fops with EIO and tells the parents.
func (h *health) reportDown(err error) {
	h.down.Store(true)
	h.mu.Lock()
	wasUp := h.baseUp
	h.lastErr = err.Error()
	h.mu.Unlock()
	if wasUp {
		h.p.NotifyParents(xlator.EventChildDown)
	}
}

// start runs the checker every health-check-interval (not at all for 0).
func (h *health) start() {
	iv := h.p.interval
	h.mu.Lock()
	defer h.mu.Unlock()
	if iv <= 0 || h.stopCh != nil || h.stopped {
		return
	}
	h.stopCh, h.done = make(chan struct{}), make(chan struct{})
	go h.loop(iv, h.stopCh, h.done)
}

func (h *health) loop(iv time.Duration, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		h.checks.Add(1)
		err := h.p.checkBrick()
		wasDown := h.down.Load()
		switch {
		case err != nil && !wasDown:
			h.failures.Add(1)
			h.p.Logger().Error("brick health check failed: reporting child-down", zap.Error(err))
			h.reportDown(err)
		case err != nil:
			h.failures.Add(1)
		case wasDown:
			h.p.Logger().Info("brick health check passed again: reporting child-up")
			h.reportUp()
		}
	}
}

// stop ends the checker and waits for it; no event is sent afterwards.
func (h *health) stop() {
	h.mu.Lock()
	h.stopped = true
	stop, done := h.stopCh, h.done
	h.stopCh = nil
	h.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// state renders the health for the statedump.
func (h *health) state() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := "up"
	if h.down.Load() {
		s = "down"
		if h.lastErr != "" {
			s += ": " + h.lastErr
		}
	}
	return fmt.Sprintf("%s (checks %d, failures %d)", s, h.checks.Load(), h.failures.Load())
}
