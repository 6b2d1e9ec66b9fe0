package posix

import (
	"errors"
	"fmt"

	"github.com/xstack/xstack/runtime/bio"
	"github.com/xstack/xstack/runtime/iobuf"
)

// bioPath is the data path over runtime/bio: each open file gets a
// bio.Device over its OS fd (made on its first read or write), and every
// read or write is one bio from the translator's bio set, submitted and
// waited for. The bio holds the iobuf or iobref for the IO, so nothing is
// copied. Requests a Direct device cannot issue (unaligned for O_DIRECT)
// are served by the direct path on the buffered fd instead, as are writes
// of more than bio.MaxVecs segments.
//
// SubmitWait issues the request on the fop's own goroutine (the device's
// inline path), so a bio costs its allocation from the set and the
// device's accounting, not a hand-off to a worker goroutine and back.
type bioPath struct {
	p   *Posix
	set *bio.BioSet
}

func newBioPath(p *Posix) (*bioPath, error) {
	env := p.Env()
	set, err := bio.NewBioSet(p.Name(), env.Slabs, env.Pools, 4)
	if err != nil {
		return nil, err
	}
	return &bioPath{p: p, set: set}, nil
}

func (bp *bioPath) name() string { return "bio" }

// device returns the file's device, making it on first use.
func (bp *bioPath) device(fc *fileCtx) *bio.Device {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.dev == nil {
		fc.dev = bio.NewDevice(fc.fd, bio.DeviceConfig{
			Name:       fmt.Sprintf("%s:fd%d", bp.p.Name(), fc.fd),
			QueueDepth: 32,
			Workers:    2, // started only if something submits asynchronously
			Direct:     fc.direct,
			Logger:     bp.p.Logger(),
		})
	}
	return fc.dev
}

func (bp *bioPath) read(fc *fileCtx, buf *iobuf.Iobuf, size int, off int64) (int, error) {
	if fc.direct && !fc.aligned(buf.Bytes()[:size], off) {
		return preadFull(fc, buf.Bytes()[:size], off)
	}
	b := bp.set.Alloc(1)
	defer b.Put()
	b.Op, b.Offset = bio.OpRead, off
	if err := b.AddPage(buf, 0, size); err != nil {
		return 0, err
	}
	if err := bp.device(fc).SubmitWait(b); err != nil {
		if errors.Is(err, bio.ErrMisaligned) {
			return preadFull(fc, buf.Bytes()[:size], off)
		}
		return b.Done(), err
	}
	return b.Done(), nil
}

func (bp *bioPath) write(fc *fileCtx, data *iobuf.Iobref, off int64) (int, error) {
	if data.Len() > bio.MaxVecs {
		return pwritevAll(bp.p, fc, data, off)
	}
	b := bp.set.Alloc(data.Len())
	defer b.Put()
	b.Op, b.Offset = bio.OpWrite, off
	if err := b.AddIobref(data); err != nil {
		return 0, err
	}
	if err := bp.device(fc).SubmitWait(b); err != nil {
		if errors.Is(err, bio.ErrMisaligned) {
			return pwritevAll(bp.p, fc, data, off)
		}
		return b.Done(), err
	}
	return b.Done(), nil
}

func (bp *bioPath) close() { _ = bp.set.Close() }

// rangeOp submits a bio without data — bio.OpFlush (fdatasync),
// bio.OpDiscard (punch hole, keep size) or bio.OpWriteZeroes (zero range,
// extending the file; the device writes zeroes where the file system
// cannot) — over [off, off+length) and waits for it.
func (bp *bioPath) rangeOp(fc *fileCtx, op bio.Op, off, length int64) error {
	b := bp.set.Alloc(0)
	defer b.Put()
	b.Op, b.Offset = op, off
	if op != bio.OpFlush {
		b.SetSize(int(length))
	}
	return bp.device(fc).SubmitWait(b)
}
