package writebehind

import "github.com/xstack/xstack/xlator"

// Stats is a snapshot of the translator. HeldBytes, HeldWrites and
// DirtyFiles are gauges; the rest are counters that only grow, and Sub
// gives their change over an interval.
type Stats struct {
	HeldBytes  int64 `json:"held_bytes"`  // payload bytes of acknowledged writes not yet written to the child
	HeldWrites int64 `json:"held_writes"` // those writes
	DirtyFiles int64 `json:"dirty_files"` // files holding writes

	Writes       uint64 `json:"writes"`        // writevs received
	Behind       uint64 `json:"behind"`        // writes held and acknowledged early
	Bypassed     uint64 `json:"bypassed"`      // writes passed through (O_SYNC, O_DIRECT, O_APPEND, window-size or more, total-window-size reached)
	Copied       uint64 `json:"copied"`        // held writes copied because the caller only lent their memory
	Flushes      uint64 `json:"flushes"`       // times a file's held writes were written to the child
	ChildWrites  uint64 `json:"child_writes"`  // writevs sent to the child by flushes
	Aggregated   uint64 `json:"aggregated"`    // held writes that went down merged with others into one writev
	FailedWrites uint64 `json:"failed_writes"` // held writes whose writev failed
	LateErrors   uint64 `json:"late_errors"`   // errors of held writes reported by a later write, fsync or flush
	Unreported   uint64 `json:"unreported"`    // errors of held writes found when no fop could report them (release, flush-behind); logged
	Cancelled    uint64 `json:"cancelled"`     // fops that gave up waiting for a flush because their caller did
}

// Sub returns the change from prev to s: counters become differences,
// gauges stay s's.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	d.Writes -= prev.Writes
	d.Behind -= prev.Behind
	d.Bypassed -= prev.Bypassed
	d.Copied -= prev.Copied
	d.Flushes -= prev.Flushes
	d.ChildWrites -= prev.ChildWrites
	d.Aggregated -= prev.Aggregated
	d.FailedWrites -= prev.FailedWrites
	d.LateErrors -= prev.LateErrors
	d.Unreported -= prev.Unreported
	d.Cancelled -= prev.Cancelled
	return d
}

// Stats returns a snapshot. Fields are read one by one: under load they
// need not agree exactly; they do when the translator is quiescent.
func (w *WriteBehind) Stats() Stats {
	w.mu.Lock()
	dirty := int64(len(w.dirty))
	w.mu.Unlock()
	return Stats{
		HeldBytes:    w.held.Load(),
		HeldWrites:   w.heldWrites.Load(),
		DirtyFiles:   dirty,
		Writes:       w.writes.Load(),
		Behind:       w.behind.Load(),
		Bypassed:     w.bypassed.Load(),
		Copied:       w.copied.Load(),
		Flushes:      w.flushes.Load(),
		ChildWrites:  w.childWrites.Load(),
		Aggregated:   w.merged.Load(),
		FailedWrites: w.failedWrites.Load(),
		LateErrors:   w.lateErrs.Load(),
		Unreported:   w.unreported.Load(),
		Cancelled:    w.flushWaitsCancelled.Load(),
	}
}

// Dump returns the statedump section: the options, then Stats under
// GlusterFS-like keys.
func (w *WriteBehind) Dump() []xlator.KV {
	s := w.Stats()
	return []xlator.KV{
		{Key: "window-size", Value: w.window},
		{Key: "total-window-size", Value: w.total},
		{Key: "flush-behind", Value: w.flushBehind},
		{Key: "strict-o-direct", Value: w.strictODirect},
		{Key: "strict-write-ordering", Value: w.strictOrder},
		{Key: "held-bytes", Value: s.HeldBytes},
		{Key: "held-writes", Value: s.HeldWrites},
		{Key: "dirty-files", Value: s.DirtyFiles},
		{Key: "writes", Value: s.Writes},
		{Key: "writes-behind", Value: s.Behind},
		{Key: "writes-bypassed", Value: s.Bypassed},
		{Key: "writes-copied", Value: s.Copied},
		{Key: "flushes", Value: s.Flushes},
		{Key: "child-writes", Value: s.ChildWrites},
		{Key: "aggregated-writes", Value: s.Aggregated},
		{Key: "failed-writes", Value: s.FailedWrites},
		{Key: "late-errors", Value: s.LateErrors},
		{Key: "unreported-errors", Value: s.Unreported},
		{Key: "cancelled-waits", Value: s.Cancelled},
	}
}
