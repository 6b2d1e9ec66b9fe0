package fuse

import "sync/atomic"

// op is a FUSE operation the bridge serves, for its statistics.
type op uint8

const (
	opLookup op = iota
	opForget
	opGetattr
	opSetattr
	opReadlink
	opSymlink
	opMknod
	opMkdir
	opUnlink
	opRmdir
	opRename
	opLink
	opOpen
	opRead
	opWrite
	opStatfs
	opRelease
	opFsync
	opSetxattr
	opGetxattr
	opListxattr
	opRemovexattr
	opFlush
	opOpendir
	opReaddir
	opReleasedir
	opFsyncdir
	opAccess
	opCreate
	opFallocate
	opReaddirplus
	opLseek
	opGetlk
	opSetlk
	opSetlkw
	opTmpfile
	opStatx
	opIoctl
	opCopyFileRange
	numOps
)

var opNames = [numOps]string{
	"LOOKUP", "FORGET", "GETATTR", "SETATTR", "READLINK", "SYMLINK", "MKNOD",
	"MKDIR", "UNLINK", "RMDIR", "RENAME", "LINK", "OPEN", "READ", "WRITE",
	"STATFS", "RELEASE", "FSYNC", "SETXATTR", "GETXATTR", "LISTXATTR",
	"REMOVEXATTR", "FLUSH", "OPENDIR", "READDIR", "RELEASEDIR", "FSYNCDIR",
	"ACCESS", "CREATE", "FALLOCATE", "READDIRPLUS", "LSEEK", "GETLK", "SETLK",
	"SETLKW", "TMPFILE", "STATX", "IOCTL", "COPY_FILE_RANGE",
}

func (o op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "UNKNOWN"
}

// counters are the bridge's statistics: unexported atomics, read through
// Stats.
type counters struct {
	ops          [numOps]opCounter
	bytesRead    atomic.Uint64
	bytesWritten atomic.Uint64
	shortcuts    atomic.Uint64
}

type opCounter struct {
	count  atomic.Uint64
	errors atomic.Uint64
}

// Stats is a snapshot of a mount's request statistics, for the statedump.
// Counters only grow; Sub gives the change over an interval. Nodes and
// Handles are gauges.
type Stats struct {
	// Ops lists every FUSE operation the bridge serves, in a fixed order,
	// with how many requests arrived and how many were answered with an
	// error (ENOENT from LOOKUP included).
	Ops []OpStats `json:"ops"`
	// Requests and Errors are the sums over Ops.
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	// BytesRead and BytesWritten count data returned by READ and accepted
	// by WRITE.
	BytesRead    uint64 `json:"bytes_read"`
	BytesWritten uint64 `json:"bytes_written"`
	// XattrShortcuts counts GETXATTR requests answered at the bridge
	// without winding (security.capability, the internal namespace).
	XattrShortcuts uint64 `json:"xattr_shortcuts"`
	// Nodes is how many node ids the kernel holds, the root included.
	Nodes int `json:"nodes"`
	// Handles is how many files and directories are open.
	Handles int `json:"open_handles"`
	// InvalInodes counts NOTIFY_INVAL_INODEs the kernel took (inodes the
	// graph invalidated), InvalEntries NOTIFY_INVAL_ENTRYs (dentries
	// dropped to keep Nodes within the inode LRU limit), Shrinks the
	// times the node table was found past it, NotifyErrors the
	// notifications that failed (a node the kernel no longer knew is not
	// a failure: it is not counted at all).
	InvalInodes  uint64 `json:"inval_inodes"`
	InvalEntries uint64 `json:"inval_entries"`
	Shrinks      uint64 `json:"lru_shrinks"`
	NotifyErrors uint64 `json:"notify_errors"`
	// PassthroughOpens counts handles the kernel serves from the backing
	// file itself (their bytes are not in BytesRead, BytesWritten or any
	// fop statistics), PassthroughRefused opens of a mount with
	// passthrough on that took the normal path, PassthroughFiles the
	// files with a backing id now.
	PassthroughOpens   uint64 `json:"passthrough_opens"`
	PassthroughRefused uint64 `json:"passthrough_refused"`
	PassthroughFiles   int64  `json:"passthrough_files"`
	// Loop describes xstack's own reader loop (conn.go); nil when
	// go-fuse's serves the mount.
	Loop *LoopStats `json:"loop,omitempty"`
	// Transport is the transport serving the mount (TransportDevFuse or
	// TransportIOUring); TransportNote says why a mount that asked for
	// io-uring is served through /dev/fuse; Ring describes the io_uring
	// queues, nil without them.
	Transport     string     `json:"transport"`
	TransportNote string     `json:"transport_note,omitempty"`
	Ring          *RingStats `json:"ring,omitempty"`
}

// LoopStats describes the reader loop of a mount: its workers now and
// what its policy did so far.
type LoopStats struct {
	Workers int `json:"workers"` // alive
	Reading int `json:"reading"` // in read(2) on /dev/fuse
	Serving int `json:"serving"` // serving a request
	Parked  int `json:"parked"`  // idle, not reading
	// Requests counts requests read; Handoffs those served by another
	// worker than the request before (at one request at a time, the
	// fewer the better: the same thread stays hot).
	Requests uint64 `json:"requests"`
	Handoffs uint64 `json:"handoffs"`
	// Spawned counts workers started, Unparked parked ones sent back to
	// read because requests overlapped, Parks workers parked after
	// serving, Stalls readers the watchdog added beside a slow request.
	Spawned  uint64 `json:"spawned"`
	Unparked uint64 `json:"unparked"`
	Parks    uint64 `json:"parks"`
	Stalls   uint64 `json:"stalls"`
	// Interrupts counts INTERRUPT requests (those of READs and WRITEs,
	// which the loop serves itself, it drops and lets the request
	// finish).
	Interrupts uint64 `json:"interrupts"`
}

// OpStats counts one FUSE operation.
type OpStats struct {
	Op     string `json:"op"`
	Count  uint64 `json:"count"`
	Errors uint64 `json:"errors"`
}

// Count returns the requests of the operation named name ("READ"), or 0.
func (s Stats) Count(name string) uint64 {
	for _, o := range s.Ops {
		if o.Op == name {
			return o.Count
		}
	}
	return 0
}

// Sub returns the change from prev to s: counters become differences,
// gauges stay s's. prev must come from the same mount.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	d.Ops = make([]OpStats, len(s.Ops))
	for i, o := range s.Ops {
		d.Ops[i] = o
		if i < len(prev.Ops) {
			d.Ops[i].Count -= prev.Ops[i].Count
			d.Ops[i].Errors -= prev.Ops[i].Errors
		}
	}
	d.Requests -= prev.Requests
	d.Errors -= prev.Errors
	d.BytesRead -= prev.BytesRead
	d.BytesWritten -= prev.BytesWritten
	d.XattrShortcuts -= prev.XattrShortcuts
	if s.Ring != nil && prev.Ring != nil {
		r := *s.Ring
		r.Requests -= prev.Ring.Requests
		r.HandOffs -= prev.Ring.HandOffs
		d.Ring = &r
	}
	return d
}

func (c *counters) snapshot() Stats {
	s := Stats{Ops: make([]OpStats, numOps)}
	for i := range c.ops {
		o := OpStats{Op: op(i).String(), Count: c.ops[i].count.Load(), Errors: c.ops[i].errors.Load()}
		s.Ops[i] = o
		s.Requests += o.Count
		s.Errors += o.Errors
	}
	s.BytesRead = c.bytesRead.Load()
	s.BytesWritten = c.bytesWritten.Load()
	s.XattrShortcuts = c.shortcuts.Load()
	return s
}
