package xlator

// wrapper is what the graph puts around every translator, once, for what
// all of them need: the hop record of the call (for the calls in flight in
// a statedump) and the per-fop statistics (count, errors, bytes, latency).
// Parents see their children only through wrappers, so translator authors
// never write this themselves.
type wrapper struct {
	x          Xlator
	idx        int
	stats      *fopStats
	violations violations // breaches of the fop contract (contract.go)
}

var _ Xlator = (*wrapper)(nil)

func (w *wrapper) base() *Base { return w.x.base() }

// done records the end of a hop: the call leaves the translator and the
// fop's statistics are updated.
func (w *wrapper) done(c *Call, f Fop, start int64, err error, n int64) {
	c.leave()
	w.stats.record(f, nowTicks()-start, err, n)
}

func (w *wrapper) Release(fd *FD)               { w.x.Release(fd) }
func (w *wrapper) Releasedir(fd *FD)            { w.x.Releasedir(fd) }
func (w *wrapper) Forget(in *Inode)             { w.x.Forget(in) }
func (w *wrapper) Init(ic *InitContext) error   { return w.x.Init(ic) }
func (w *wrapper) Fini()                        { w.x.Fini() }
func (w *wrapper) Notify(ev Event, from Xlator) { w.x.Notify(ev, from) }

// Dump returns the translator's private state, and how often it broke the
// fop contract when it ever did.
func (w *wrapper) Dump() []KV {
	kv := w.x.Dump()
	if n := w.violations.n.Load(); n > 0 {
		kv = append(kv, KV{Key: "fop-contract-breaches", Value: n})
	}
	return kv
}

// Stats returns a snapshot of the fops the translator has served.
func (w *wrapper) Stats() XlatorStats {
	s := XlatorStats{Volume: w.x.base().name}
	for f := Fop(0); f < NumFops; f++ {
		fs := w.stats.snapshot(f)
		if fs.Count > 0 {
			s.Fops = append(s.Fops, fs)
		}
	}
	return s
}
