//go:build !amd64

package xlator

func ticks() int64 { return nanotime() }

// hasTSC says the architecture has a time-stamp counter ticks reads.
const hasTSC = false
