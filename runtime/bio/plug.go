package bio

import (
	"cmp"
	"slices"
)

// Plug holds bios so that they can be sorted and merged before they reach
// the engine (blk_plug): adjacent reads or writes become one vectored
// system call. Get one with Device.Plug, Submit bios to it, then Finish.
// A plug is used by one goroutine; it is not safe for concurrent use.
type Plug struct {
	dev  *Device
	bios []*Bio
}

// Plug returns an empty plug for d. It does not allocate in steady state
// (plugs are pooled); the plug must not be used after Finish.
func (d *Device) Plug() *Plug { return d.plugs.Get().(*Plug) }

// Submit holds b until Finish. As with Device.Submit, the device owns b from
// now until its completion.
func (p *Plug) Submit(b *Bio) {
	p.dev.account(b)
	p.bios = append(p.bios, b)
}

// Len returns the number of bios held.
func (p *Plug) Len() int { return len(p.bios) }

// Finish issues the held bios and returns the plug to its device. They are
// sorted by offset (stably, so bios at one offset keep their order) and
// back-merged: a read or write whose Offset is where the previous one of the
// same op and flags ends joins its request, up to MaxIovecs iovecs, and the
// run is issued as one preadv or pwritev. Each bio still completes on its
// own, with its own status and Done; Stats.Merged counts the bios that
// joined another's request.
//
// As in the kernel, bios in flight together are not ordered: sorting may
// issue a later write to a lower offset first, and a flush in the same plug
// does not wait for the writes. Wait for the writes to complete before
// submitting a flush that must cover them.
func (p *Plug) Finish() {
	d := p.dev
	slices.SortStableFunc(p.bios, byOffset)
	var cur *Request
	for i, b := range p.bios {
		p.bios[i] = nil
		nsegs, err := d.check(b)
		if cur != nil && d.merge(cur, b, nsegs, err) {
			continue
		}
		if cur != nil {
			d.issue(cur)
		}
		if cur = d.slot(); cur == nil {
			d.failClosed(b)
			continue
		}
		d.start(cur, b, nsegs, err)
	}
	if cur != nil {
		d.issue(cur)
	}
	p.bios = p.bios[:0]
	d.plugs.Put(p)
}

func byOffset(a, b *Bio) int { return cmp.Compare(a.Offset, b.Offset) }

// merge appends b (checked: nsegs iovecs, or err) to r if it can join it
// as a back merge, and reports whether it did.
func (d *Device) merge(r *Request, b *Bio, nsegs int, err error) bool {
	if err != nil || r.err != nil || !r.op.HasData() || b.Op != r.op || b.Flags != r.flags ||
		r.off+r.size != b.Offset || r.nsegs+nsegs > MaxIovecs {
		return false
	}
	r.tail.next = b
	r.tail = b
	r.size += int64(b.it.Size)
	r.nsegs += nsegs
	r.nbios++
	d.merged.Add(1)
	return true
}
