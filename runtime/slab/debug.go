package slab

import (
	"fmt"

	"go.uber.org/zap"
)

// poisonByte fills free objects in debug mode; it is the kernel's POISON_FREE,
// so dumps look familiar.
const poisonByte = 0x6b

func poison(b []byte) {
	if len(b) == 0 {
		return
	}
	b[0] = poisonByte
	for i := 1; i < len(b); i *= 2 {
		copy(b[i:], b[:i])
	}
}

// checkPoison verifies that a free object still holds the poison. If not,
// the caller quarantines the object: it is never handed out or freed again,
// and stays counted on its slab so that the slab is never unmapped under a
// stray writer.
func (c *Cache) checkPoison(r objRef, b []byte) error {
	for i, v := range b {
		if v == poisonByte {
			continue
		}
		c.corrupt.Add(1)
		c.log.Error("free object modified after free; quarantined",
			zap.Uintptr("slab", r.s.base), zap.Uint32("object", r.idx),
			zap.Int("offset", i), zap.Uint8("found", v))
		return fmt.Errorf("cache %q: object %d of slab %#x: byte %d is %#x, want %#x: %w",
			c.name, r.idx, r.s.base, i, v, poisonByte, ErrCorrupt)
	}
	return nil
}
