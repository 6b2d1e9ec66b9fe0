package xlator

// ticks reads the CPU's time-stamp counter: on this project's machines
// (constant, non-stop TSC under KVM) a quarter of the cost of the
// runtime's clock, which matters when every hop of every fop reads it twice.
func ticks() int64

// hasTSC says the architecture has a time-stamp counter ticks reads.
const hasTSC = true
