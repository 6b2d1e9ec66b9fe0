package slab

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// membarrier(2) commands (include/uapi/linux/membarrier.h, Linux 4.14+).
const (
	membarrierPrivateExpedited         = 1 << 3
	membarrierRegisterPrivateExpedited = 1 << 4
)

// haveHeavyBarrier registers the process for private expedited membarrier
// once and reports whether that worked (it fails on kernels before 4.14 and
// under seccomp policies that deny the call). Registration is per process
// and cannot be undone, so it is the one piece of process-wide state here.
var haveHeavyBarrier = sync.OnceValue(func() bool {
	_, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterPrivateExpedited, 0, 0)
	return errno == 0
})

// heavyBarrier makes every running thread of the process execute a full
// memory barrier before it returns, the asymmetric fence that pairs with the
// plain stores on the front-cache fast path (see acquire). Only valid after
// haveHeavyBarrier reported true.
func heavyBarrier() {
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierPrivateExpedited, 0, 0); errno != 0 {
		// Registered commands do not fail; going on without the barrier
		// could hand one object to two owners.
		panic(fmt.Sprintf("slab: membarrier failed after registration: %v", errno))
	}
}
