package transport

import "time"

// Limit bounds the calls of a host to one plugin process. It is read
// by the callers of every call (ring.go, ringconn.go) and never changes.
type Limit struct {
	Timeout time.Duration // > 0
	// expired is called on the goroutine of a call that ran out of d; it
	// must not block.
	Expired func()
}

func (l *Limit) expire() { l.Expired() }
