package plugin

import "time"

// callLimit bounds the calls of a host to one plugin process. It is read
// by the callers of every call (ring.go, ringconn.go) and never changes.
type callLimit struct {
	d time.Duration // > 0
	// expired is called on the goroutine of a call that ran out of d; it
	// must not block.
	expired func()
}

func (l *callLimit) expire() { l.expired() }
