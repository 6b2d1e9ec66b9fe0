package fuse

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xstack/xstack/runtime/iobuf"
)

// readResult is a READ reply over the iobref Readv returned. It offers
// go-fuse the vectored interface (Slices), so the reply is written to
// /dev/fuse with writev(2) straight from the iobufs, and it owns the
// iobref's reference until go-fuse calls Done after sending. Results are
// pooled: after Done the object is reused and must not be touched.
type readResult struct {
	ref *iobuf.Iobref
	iov [][]byte
}

var readResults = sync.Pool{New: func() any { return &readResult{iov: make([][]byte, 0, 8)} }}

// emptyRead answers a READ at or past the end of file. It holds nothing:
// go-fuse never calls Done on a result of size 0.
var emptyRead = fuse.ReadResultData(nil)

// newReadResult takes over the caller's reference on ref.
func newReadResult(ref *iobuf.Iobref) *readResult {
	r := readResults.Get().(*readResult)
	r.ref = ref
	r.iov = ref.AppendIov(r.iov[:0])
	return r
}

// Slices returns the iobref's segments; they stay valid until Done.
func (r *readResult) Slices() ([][]byte, fuse.Status) { return r.iov, fuse.OK }

// Bytes copies the data into buf when go-fuse cannot use Slices.
func (r *readResult) Bytes(buf []byte) ([]byte, fuse.Status) {
	if cap(buf) < r.ref.Size() {
		buf = make([]byte, r.ref.Size())
	}
	buf = buf[:r.ref.Size()]
	r.ref.CopyTo(buf)
	return buf, fuse.OK
}

// Size returns the bytes of the reply.
func (r *readResult) Size() int { return r.ref.Size() }

// Done drops the iobref and returns the result to its pool.
func (r *readResult) Done() {
	r.ref.Unref()
	r.ref = nil
	clear(r.iov)
	r.iov = r.iov[:0]
	readResults.Put(r)
}

var _ interface {
	fuse.ReadResult
	Slices() ([][]byte, fuse.Status)
} = (*readResult)(nil)
