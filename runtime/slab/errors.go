package slab

import "errors"

// ErrForeign is returned by Cache.Free for a slice that does not point into
// any slab of the cache: memory from make, from another cache, or from a slab
// that has already been given back to the OS. The cache is left unchanged.
var ErrForeign = errors.New("slab: object does not belong to this cache")

// ErrNotObjectStart is returned by Cache.Free for a slice that points into a
// slab of the cache but not at the first byte of an object (an interior
// pointer, a resliced b[n:], or the colour/leftover area of a slab). The cache
// is left unchanged.
var ErrNotObjectStart = errors.New("slab: slice does not start at an object")

// ErrDoubleFree is returned by Cache.Free for an object that is not currently
// allocated: it was already freed, whether it now sits in a front cache or
// back on its slab. The cache is left unchanged.
var ErrDoubleFree = errors.New("slab: object freed twice")

// ErrCorrupt is returned by Cache.Alloc in debug mode when a free object no
// longer holds the poison pattern written when it was freed: someone wrote to
// it after Free (a use after free). The object is quarantined, never handed
// out again and never unmapped, so the stray writer cannot hurt another user.
var ErrCorrupt = errors.New("slab: free object was modified (use after free)")

// ErrClosed is returned by Cache.Alloc after Cache.Close.
var ErrClosed = errors.New("slab: cache is closed")

// ErrActive is returned by Cache.Close while objects are still allocated.
// Their slabs stay mapped (so the holders do not fault) and are unmapped when
// the last object on them is freed.
var ErrActive = errors.New("slab: cache closed with objects still allocated")

// ErrDuplicateName is returned by Registry.NewCache when a cache of the same
// name is already registered.
var ErrDuplicateName = errors.New("slab: duplicate cache name")

// ErrInvalidConfig is wrapped by the errors New and Registry.NewCache return
// for a Config they cannot honour; the message names the field and the fix.
var ErrInvalidConfig = errors.New("slab: invalid config")

// ErrReaperRunning is returned by Registry.StartReaper when the reaper is
// already running.
var ErrReaperRunning = errors.New("slab: reaper already running")
