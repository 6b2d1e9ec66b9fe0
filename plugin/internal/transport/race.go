//go:build race

package transport

import "sync/atomic"

// raceSync tells the race detector what it cannot see: a call posted,
// served and completed by this process's threads may have passed through
// the other process in between (the host's caller posts, the plugin winds
// back, a host worker serves the wind-back), so the happens-before edges
// that exist through the shared-memory atomics of both processes are
// invisible to it. Under -race every post and completion releases, and
// every take and finished wait acquires, this variable.
var raceSync atomic.Uint64

func raceRelease() { raceSync.Add(1) }
func raceAcquire() { raceSync.Load() }
