package bio

import "fmt"

// Chain makes b a child of parent (bio_chain): parent's EndIO waits until b
// has completed too, and b's error, if any, becomes parent's status unless
// parent already has one. Chaining passes the caller's reference on b to
// the chain: b is put when it completes, so the caller must not Put it (nor
// touch it after submitting it). The chain holds a reference on parent until
// b completes.
//
// b must not have an EndIO nor already be chained; Chain panics otherwise,
// as the kernel's BUG_ON does. Parent may be chained in turn.
func (b *Bio) Chain(parent *Bio) {
	if b.EndIO != nil || b.parent != nil {
		panic("bio: Chain on a bio that already has an EndIO or a parent")
	}
	parent.IncRemaining()
	parent.Get()
	b.parent = parent
}

// IncRemaining makes b wait for one more Endio before it completes
// (bio_inc_remaining): whoever calls it owes b one Endio call. Chain uses
// it; use it directly to hold a bio open while work outside the device
// (another device, a computation) finishes.
func (b *Bio) IncRemaining() { b.remaining.Add(1) }

// Endio reports that b's IO has finished (bio_endio): the device calls it
// after setting Status and Done, and a caller may call it to complete a bio
// it decided not to submit (after SetStatus). When the last outstanding
// completion arrives (b's own and one per IncRemaining or chained child),
// b's EndIO runs, or, for a chained bio, b's status passes to its parent,
// the parent gets one completion and b is put. More Endio calls than owed
// panic.
func (b *Bio) Endio() {
	switch n := b.remaining.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic(fmt.Sprintf("bio: Endio on a completed %s bio (completed twice)", b.Op))
	}
	p := b.parent
	if p == nil {
		if f := b.EndIO; f != nil {
			f(b)
		}
		return
	}
	b.parent = nil
	p.SetStatus(b.Status())
	p.Endio()
	p.Put() // the chain's reference
	b.Put() // the caller's reference, passed to the chain
}

// Split splits off the first at bytes of b (bio_split). It returns a new
// bio for [Offset, Offset+at) that borrows b's vecs, and advances b past
// them; the new bio is chained to b, so b's EndIO runs only when both have
// completed, with the first error of either. Submit both; do not Put the
// returned bio (the chain puts it on completion). It holds a reference on
// b until it is freed, so b's pages outlive it.
//
// at may fall inside a vec or on a boundary; no alignment is imposed
// (Direct devices check alignment at submission). It returns ErrSplitRange
// unless 0 < at < Size. The new bio comes from b's set and never fails.
func (b *Bio) Split(at int) (*Bio, error) {
	if at <= 0 || at >= b.it.Size {
		return nil, fmt.Errorf("%w: Split(%d) of a %d-byte bio; want 0 < at < %d", ErrSplitRange, at, b.it.Size, b.it.Size)
	}
	f := b.set.clone(b)
	f.it.Size = at
	b.Advance(at)
	f.Chain(b)
	return f, nil
}
