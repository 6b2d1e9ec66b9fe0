package posix

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/xstack/xstack/runtime/bio"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// bioPath is the data path over runtime/bio: each open file gets a
// bio.Device over its OS fd (made on its first read or write), and every
// read or write is one bio from the translator's bio set, submitted and
// waited for. The bio holds the iobuf or iobref for the IO, so nothing is
// copied. Requests a Direct device cannot issue (unaligned for O_DIRECT)
// are served by the direct path on the buffered fd instead. A write of more
// than bio.MaxVecs segments (write-behind's aggregated writes) is cut into
// bios of at most bio.MaxVecs segments submitted under a plug, which merges
// them back into one request of up to bio.MaxIovecs iovecs: one pwritev,
// and the device's merged counter counts the bios that joined it (on an
// O_DIRECT file such writes take the direct path, which handles
// misalignment).
//
// SubmitWait issues the request on the fop's own goroutine (the device's
// inline path), so a bio costs its allocation from the set and the
// device's accounting, not a hand-off to a worker goroutine and back.
//
// The statedump shows the path in a section of its own, bio.<volume>
// (part bio): the bio set's counters, the brick's device totals (open
// files' devices and those already closed) and each open file's device,
// all labelled.
type bioPath struct {
	p   *Posix
	set *bio.BioSet

	// inject, if set before any file is opened, is every device's
	// DeviceConfig.Inject (tests).
	inject bio.InjectFunc

	mu      sync.Mutex
	devs    map[*bio.Device]struct{} // the open files' devices
	retired bio.DeviceStats          // the closed devices' counters, summed
	closed  uint64
}

// maxDumpedDevices bounds the open files' devices a statedump lists one
// by one (the brick's totals count them all).
const maxDumpedDevices = 32

func newBioPath(p *Posix) (*bioPath, error) {
	env := p.Env()
	set, err := bio.NewBioSet(p.Name(), env.Slabs, env.Pools, 4)
	if err != nil {
		return nil, err
	}
	bp := &bioPath{p: p, set: set, devs: map[*bio.Device]struct{}{}}
	env.AddSection(bp.section(), bp.dump)
	return bp, nil
}

func (bp *bioPath) section() string { return "bio." + bp.p.Name() }

// retire closes a file's device (waiting for its IO in flight) and adds
// its counters to the brick's totals.
func (bp *bioPath) retire(dev *bio.Device) error {
	err := dev.Close()
	st := dev.Stats()
	bp.mu.Lock()
	delete(bp.devs, dev)
	bp.retired = bp.retired.Add(st)
	bp.closed++
	bp.mu.Unlock()
	return err
}

// dump is the bio.<volume> statedump section.
func (bp *bioPath) dump() []xlator.KV {
	bp.mu.Lock()
	total := bp.retired
	total.Name = bp.p.Name()
	open := make([]bio.DeviceStats, 0, len(bp.devs))
	for d := range bp.devs {
		st := d.Stats()
		total = total.Add(st)
		if len(open) < maxDumpedDevices {
			open = append(open, st)
		}
	}
	n, closed := len(bp.devs), bp.closed
	bp.mu.Unlock()
	kv := xlator.KVsOf("set", bp.set.Stats())
	kv = append(kv, xlator.KV{Key: "devices-open", Value: n}, xlator.KV{Key: "devices-closed", Value: closed})
	kv = append(kv, xlator.KVsOf("brick", total)...)
	if ra := bp.p.ra; ra != nil {
		kv = append(kv, xlator.KVsOf("read-ahead", ra.stats())...)
	}
	slices.SortFunc(open, func(a, b bio.DeviceStats) int { return strings.Compare(a.Name, b.Name) })
	for _, st := range open {
		kv = append(kv, xlator.KVsOf("device."+st.Name, st)...)
	}
	return kv
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
			Workers:    raWorkers, // started only if something submits asynchronously (read-ahead)
			Direct:     fc.direct,
			Logger:     bp.p.Logger(),
			Inject:     bp.inject,
		})
		bp.mu.Lock()
		bp.devs[fc.dev] = struct{}{}
		bp.mu.Unlock()
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
		if fc.direct {
			return pwritevAll(bp.p, fc, data, off)
		}
		return bp.writePlugged(fc, data, off)
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

// writePlugged writes data, more segments than one bio holds, as bios of
// at most bio.MaxVecs segments submitted under one plug, and waits for
// them. The count is that of the bytes at the start of data written
// intact: the bios' up to the first one that failed or came short.
func (bp *bioPath) writePlugged(fc *fileCtx, data *iobuf.Iobref, off int64) (int, error) {
	dev := bp.device(fc)
	var (
		wg   sync.WaitGroup
		bios []*bio.Bio
	)
	pos := off
	for i := 0; i < data.Len(); i += bio.MaxVecs {
		k := min(bio.MaxVecs, data.Len()-i)
		b := bp.set.Alloc(k)
		b.Op, b.Offset = bio.OpWrite, pos
		for j := i; j < i+k; j++ {
			buf, o, n := data.Entry(j)
			if err := b.AddPage(buf, o, n); err != nil {
				panic(err) // cannot happen: k vecs in a table of k
			}
		}
		pos += int64(b.Size())
		b.EndIO, b.Private = wakeGroup, &wg
		bios = append(bios, b)
	}
	wg.Add(len(bios))
	p := dev.Plug()
	for _, b := range bios {
		p.Submit(b)
	}
	p.Finish()
	wg.Wait()
	total, short := 0, false
	var err error
	for _, b := range bios {
		if !short {
			total += b.Done()
			if err = b.Status(); err != nil || b.Done() < b.Size() {
				short = true
			}
		}
		b.EndIO, b.Private = nil, nil
		b.Put()
	}
	if short && err == nil {
		err = syscall.EIO
	}
	return total, err
}

func wakeGroup(b *bio.Bio) { b.Private.(*sync.WaitGroup).Done() }

func (bp *bioPath) close() {
	bp.p.Env().RemoveSection(bp.section())
	_ = bp.set.Close()
}

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
