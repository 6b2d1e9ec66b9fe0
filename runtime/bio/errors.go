package bio

import (
	"errors"
	"strconv"
	"syscall"
)

// ErrMisaligned is matched (errors.Is) by the status of a bio submitted to a
// Direct device whose offset, length or a buffer is not a multiple of the
// device's BlockSize. The concrete error is an *AlignError naming which one
// and the alignment required; it also matches syscall.EINVAL, what the
// kernel would have returned. The device never bounces such IO through an
// aligned copy: the caller (the posix xlator) falls back to buffered IO.
var ErrMisaligned = errors.New("bio: misaligned for O_DIRECT")

// ErrBioFull is returned by AddPage and AddIobref when the bio's vec table
// has no room left: allocate bios with enough vecs, or submit this one and
// continue in another (up to MaxVecs per bio).
var ErrBioFull = errors.New("bio: vec table full")

// ErrClone is returned by AddPage and AddIobref on a bio made by Split: its
// vecs are borrowed from the original and cannot grow.
var ErrClone = errors.New("bio: cannot add pages to a split bio")

// ErrSplitRange is returned by Split when the split point is not strictly
// inside the bio (0 < at < Size).
var ErrSplitRange = errors.New("bio: split point outside the bio")

// ErrClosed is the status of a bio submitted to a closed Device.
var ErrClosed = errors.New("bio: device is closed")

// ErrActive is returned by BioSet.Close while bios of the set are still
// allocated. Nothing is released; Close may be retried once they are put.
var ErrActive = errors.New("bio: bio set closed with bios still allocated")

// ErrInvalid is the status of a bio the device cannot make sense of: an
// unknown Op, a negative Offset, or a read or write whose Size exceeds its
// vecs. It matches syscall.EINVAL too.
var ErrInvalid = &errnoError{msg: "bio: invalid bio", errno: syscall.EINVAL}

// AlignError is the status of a misaligned bio on a Direct device. It
// matches ErrMisaligned and syscall.EINVAL with errors.Is.
type AlignError struct {
	What  string // "offset", "length" or "buffer"
	Value int64  // the offending offset, length or buffer address
	Align int    // the required alignment in bytes
}

// Error says what is misaligned, the alignment required, and the fix.
func (e *AlignError) Error() string {
	v := strconv.FormatInt(e.Value, 10)
	if e.What == "buffer" {
		v = "0x" + strconv.FormatInt(e.Value, 16)
	}
	return "bio: misaligned for O_DIRECT: " + e.What + " " + v +
		" is not a multiple of " + strconv.Itoa(e.Align) +
		" (the device's block size); use buffered IO for unaligned requests"
}

// Is makes errors.Is(err, ErrMisaligned) true.
func (e *AlignError) Is(target error) bool { return target == ErrMisaligned }

// Unwrap returns syscall.EINVAL, so the fop layer maps it like the kernel's
// own answer to misaligned O_DIRECT IO.
func (e *AlignError) Unwrap() error { return syscall.EINVAL }

// errnoError is a sentinel that also matches an errno.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }
func (e *errnoError) Unwrap() error { return e.errno }
