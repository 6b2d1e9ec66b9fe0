//go:build !amd64 && !arm64

package plugin

// cpuRelax does nothing on this architecture.
func cpuRelax() {}
