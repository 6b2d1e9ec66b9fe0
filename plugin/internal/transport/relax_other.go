//go:build !amd64 && !arm64

package transport

// cpuRelax does nothing on this architecture.
func cpuRelax() {}
