//go:build amd64 || arm64

package transport

// cpuRelax tells the CPU the thread is polling (PAUSE, YIELD): a polling
// loop then leaves the core's execution resources and memory bandwidth to
// the thread it waits for, when the two share a core.
//
//go:noescape
func cpuRelax()
