package bio

import "strconv"

// Op is what a bio asks the device to do, the kernel's REQ_OP_*.
type Op uint8

const (
	// OpRead reads Size bytes at Offset into the bio's vecs.
	OpRead Op = iota
	// OpWrite writes the bio's vecs at Offset.
	OpWrite
	// OpFlush makes every completed write durable (fdatasync). It carries
	// no data; Offset and Size are ignored.
	OpFlush
	// OpDiscard deallocates Size bytes at Offset (fallocate PUNCH_HOLE |
	// KEEP_SIZE): later reads return zeroes, the file size is unchanged. It
	// carries no data; set the length with SetSize.
	OpDiscard
	// OpWriteZeroes writes Size zero bytes at Offset (fallocate
	// ZERO_RANGE, or plain zero writes where the file system lacks it),
	// extending the file if needed. It carries no data; set the length
	// with SetSize.
	OpWriteZeroes

	numOps
)

var opNames = [numOps]string{"read", "write", "flush", "discard", "write-zeroes"}

// String returns the op's name as Stats and errors show it ("write-zeroes").
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// HasData reports whether bios of the op carry data in vecs: reads and
// writes.
func (o Op) HasData() bool { return o == OpRead || o == OpWrite }

// Flags modify an op, the kernel's REQ_PREFLUSH and REQ_FUA.
type Flags uint8

const (
	// Preflush flushes the device (fdatasync) before the op is issued, so
	// that every write completed before this bio was submitted is durable
	// before its own data lands.
	Preflush Flags = 1 << iota
	// FUA (force unit access) makes the op's own data durable before it
	// completes: the device issues fdatasync after the write.
	FUA
)

// String returns the flags as "preflush|fua", or "" for none.
func (f Flags) String() string {
	s := ""
	if f&Preflush != 0 {
		s = "preflush"
	}
	if f&FUA != 0 {
		if s != "" {
			s += "|"
		}
		s += "fua"
	}
	if rest := f &^ (Preflush | FUA); rest != 0 {
		if s != "" {
			s += "|"
		}
		s += "flags(" + strconv.Itoa(int(rest)) + ")"
	}
	return s
}
