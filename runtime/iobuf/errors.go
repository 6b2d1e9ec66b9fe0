package iobuf

import "errors"

// ErrRefUnderflow is returned by Iobuf.UnrefE and Iobref.UnrefE when the
// reference count is already zero: the caller released a reference it did not
// hold (a double Unref). The buffer is left untouched, so the pool stays
// consistent; the event is counted in Stats.RefUnderflows and logged.
var ErrRefUnderflow = errors.New("iobuf: Unref below zero (reference released twice)")

// ErrUseAfterFree is reported (counted in Stats.UseAfterFree and logged, never
// returned from the hot path) when a buffer is touched after its last Unref:
// a Ref on a free iobuf or iobref, and, in debug mode, a free page whose
// poison pattern was overwritten or accessors called on a released buffer.
var ErrUseAfterFree = errors.New("iobuf: use after the last Unref")

// ErrBusy is returned by Pool.Close while iobufs or iobrefs are still held.
// Nothing is unmapped, so the holders do not fault; call Close again once
// they are released.
var ErrBusy = errors.New("iobuf: pool closed with buffers still active")

// ErrClosed is the panic value of Pool.Get and Pool.NewIobref after a
// successful Pool.Close: getting memory from a closed pool is a programming
// error, like sending on a closed channel.
var ErrClosed = errors.New("iobuf: pool is closed")

// ErrInvalidConfig is wrapped by the error New returns for a Config it cannot
// honour; the message names the field and the fix.
var ErrInvalidConfig = errors.New("iobuf: invalid config")
