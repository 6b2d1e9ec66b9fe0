//go:build !amd64

package xlator

func ticks() int64 { return nanotime() }
