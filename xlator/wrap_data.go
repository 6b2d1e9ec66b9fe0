package xlator

import "github.com/xstack/xstack/runtime/iobuf"

// The data fops' wrapper methods: they enforce the contract of their
// results (contract.go) and count bytes, which the generated ones
// (wrap_fops.go) do not.

// Readv records the hop and the statistics around the translator's Readv,
// and enforces its contract (contract.go).
func (w *wrapper) Readv(c *Call, fd *FD, size int, off int64) (*iobuf.Iobref, error) {
	t := c.enter(w.idx)
	var r *iobuf.Iobref
	err := readRange(size, off)
	if err == nil {
		r, err = w.x.Readv(c, fd, size, off)
		r, err = w.checkRead(r, err, size)
	}
	var n int64
	if r != nil {
		n = int64(r.Size())
	}
	w.done(c, FopReadv, t, err, n)
	return r, err
}

// Writev records the hop and the statistics around the translator's
// Writev, and enforces its contract (contract.go).
func (w *wrapper) Writev(c *Call, fd *FD, data *iobuf.Iobref, off int64) (int, error) {
	t := c.enter(w.idx)
	var r int
	err := writeRange(data, off)
	if err == nil {
		r, err = w.x.Writev(c, fd, data, off)
		r, err = w.checkWrite(r, err, data.Size())
	}
	w.done(c, FopWritev, t, err, int64(r))
	return r, err
}
