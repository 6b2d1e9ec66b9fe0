package transport

import "unsafe"

// This file is the one description of the protocol's shared memory: the
// arena's geometry, the ring head, the call slot, the values of its state
// words and fields, and the numbers of the methods the rings carry.
// Everything else is derived from it: the code uses these types and
// constants, and PROTOCOL.md's tables are generated from them
// (TestProtocolDoc fails when the document and this file disagree), so
// a plugin written in another language from the document lays out its
// memory exactly as this package does. Both processes run on one
// machine: every number is in its native byte order, every field at its
// natural alignment.
//
// The layout is part of the protocol version (handshake.go): a change to
// anything here breaks every plugin built before it, unless it only
// gives meaning to bytes both sides ignored. TestLayoutProtocol4 holds
// the layout of protocol 4, the oldest version this host serves, and
// fails at any change to it.
//
// The arena is, in order:
//
//	offset 0              slot state words: uint32 per data slot (maxSlots)
//	offset ringOff        ring toPlugin, ringSize bytes
//	offset ringOff+ringSize  ring toHost
//	offset shmHeader      data slot 0, then slot 1, ... (slotSize bytes each)
//
// and a ring is, from its offset:
//
//	0              ringHead (ringHeadSize bytes)
//	ringStatesOff  callState of call 0, 1, ... (ringCalls of 64 bytes)
//	ringCallsOff   ringCall 0, 1, ... (ringCalls of ringCallSize bytes)

const (
	// ringOff is where the rings begin: after a page of slot state
	// words.
	ringOff = 4096
	// maxSlots is how many slot state words the page before the rings
	// holds: the most data slots an arena has.
	maxSlots = ringOff / 4
	// ringCalls is the number of call slots of a ring.
	ringCalls = 64
	// ringCallSize is the size of a call slot: callHdr, then the message
	// area.
	ringCallSize = 4096
	// ringMsgSize is the size of a call's message area (ringCall.msg).
	ringMsgSize = ringCallSize - int(unsafe.Sizeof(callHdr{}))
	// ringHeadSize is the space a ringHead takes at the start of a ring.
	ringHeadSize = 64
	// ringStatesOff is where a ring's call state words begin, one cache
	// line each, all in one page: a worker polls them all.
	ringStatesOff = 4096
	// ringCallsOff is where a ring's call slots begin.
	ringCallsOff = 2 * 4096
	// ringSize is the size of a ring.
	ringSize = ringCallsOff + ringCalls*ringCallSize
	// shmHeader is where the data slots begin: after the slot state
	// words and the two rings, rounded up to a page.
	shmHeader = (ringOff + 2*ringSize + 4095) / 4096 * 4096
	// ShmSlotSize is the size of a data slot (InitReq.shm_slot_size):
	// the largest payload that goes through the arena; larger ones go in
	// gRPC messages.
	ShmSlotSize = 1 << 20
	// ringGroups is how many supplementary groups a call carries
	// (callHdr.groups); a caller with more goes by gRPC.
	ringGroups = 24
	// ringMagic marks a ring ready (ringHead.ready) and the host's iobuf
	// memory mapped (ringHead.hostMem).
	ringMagic = 0x78737231
)

// The rings, in the order they lie in the arena.
const (
	ToPlugin = 0 // the host's calls to the plugin's translator
	ToHost   = 1 // the plugin's proxies' calls to the host's children
)

// A call's state word (callState.v). callSleep is a bit a caller sets on
// top of callPosted or callTaken when it sleeps on the word (FUTEX_WAIT):
// whoever moves the call to callDone then wakes it (FUTEX_WAKE).
const (
	callFree      uint32 = 0       // free; a caller claims it with compare-and-swap to callFilling
	callFilling   uint32 = 1       // the caller writes the request
	callPosted    uint32 = 2       // the request is complete; a worker may take it
	callTaken     uint32 = 3       // a worker runs it
	callDone      uint32 = 4       // the reply is complete; the caller reads it, then frees the call
	callAbandoned uint32 = 5       // the caller gave up on a taken call; the worker frees it
	callSleep     uint32 = 1 << 31 // or-ed into callPosted or callTaken: the caller sleeps on the word; wake it at callDone
)

// A call's operation (callHdr.op).
const (
	opReadv  uint32 = 1 // read into an arena slot (fields size, off; reply errno, rslot, rlen)
	opWritev uint32 = 2 // write data named by dkind (dslot, dlen, doff, dtoken; reply errno, n, rflags)
	// opRelease (plugin to host): the plugin let go of host memory it
	// kept past a writev (replyKept); dtoken names it.
	opRelease uint32 = 3
	// opUnary: a call of the Xlator service (ringMethodIDs), its request
	// and reply marshalled as the protobuf messages gRPC would send, in
	// the call's message area or an arena slot (ringconn.go).
	opUnary uint32 = 4
)

// Where writev data, or a unary call's request or reply, is (callHdr.dkind
// for the request's data, callHdr.rkind for a unary reply).
const (
	dataSlot   uint32 = 0 // an arena slot: dslot (rslot), its first dlen (rlen) bytes
	dataHost   uint32 = 1 // the host's iobuf memory, mapped read-only by the plugin: dlen bytes at doff
	dataInline uint32 = 2 // the call's message area: its first dlen (rlen) bytes
	dataNone   uint32 = 3 // unary reply: it fit nowhere (no free slot); the caller may redo the call by gRPC
)

// replyKept (callHdr.rflags of a writev's reply): the plugin still holds
// the writev's data in host memory after the call; the host keeps it
// until an opRelease names the call's dtoken.
const replyKept uint32 = 1

// noSlot (callHdr.rslot of a readv's reply): the reply's data, rlen > 0
// bytes, found no free arena slot; the caller repeats the call by gRPC.
const noSlot = ^uint32(0)

// ringHead is a ring's first bytes.
type ringHead struct {
	seq      uint32 // doorbell: a caller adds 1 after every post, and wakes a sleeping worker (FUTEX_WAKE) when sleepers > 0 and spinners = 0
	sleepers uint32 // workers of the serving side asleep on seq (FUTEX_WAIT)
	spinners uint32 // threads of the serving side polling the ring for calls: a post needs no wake-up
	ready    uint32 // ringMagic once the serving side's workers run: callers use the ring only then
	hostMem  uint32 // toPlugin ring: ringMagic once the plugin maps the host's iobuf memory (dataHost allowed)
	waiters  uint32 // threads of the serving process polling for their own replies: its polling worker stands down
}

// callState is a call's state word, alone in its cache line.
type callState struct {
	v uint32 // the call's state: callFree ... callAbandoned, with callSleep
	_ [60]byte
}

// ringCall is one call slot: a request and, once done, its reply. It
// holds numbers and marshalled messages only.
type ringCall struct {
	callHdr
	msg [ringMsgSize]byte // opUnary: the request, then the reply or the error message (dataInline)
}

// callHdr is the fixed part of a call. The caller writes the request
// fields between claiming the call and posting it, the worker the reply
// fields between taking it and completing it; each side reads what the
// other wrote only after it sees the state word change.
type callHdr struct {
	op       uint32             // the operation: opReadv, opWritev, opRelease, opUnary
	child    uint32             // toHost: the host child the call goes to (Header.child)
	uid      uint32             // the caller's uid (Header.uid)
	gid      uint32             // the caller's gid (Header.gid)
	pid      uint32             // the caller's pid (Header.pid)
	ngroups  uint32             // how many of groups the caller has, at most ringGroups
	fdType   uint32             // the fd's inode's S_IFMT bits (Fd.type)
	fdFlags  uint32             // the fd's open flags (Fd.flags)
	fdPid    uint32             // the pid that opened the fd (Fd.pid)
	fdDir    uint32             // 1: a directory fd (Fd.dir)
	dslot    uint32             // writev, unary request in dataSlot: the data's arena slot
	dlen     uint32             // writev, unary request: the data's length in bytes
	errno    uint32             // readv, writev, release reply: 0 or the fop's errno, at most maxErrno
	rslot    uint32             // readv reply: the data's arena slot, or noSlot; unary reply in dataSlot: its slot
	rlen     uint32             // readv reply: the bytes read; unary reply: the reply's (or error message's) length
	dkind    uint32             // writev, unary request: where the data is (dataSlot, dataHost, dataInline)
	rflags   uint32             // writev reply: replyKept or 0
	unique   uint64             // the request id of the call that entered the caller's graph (Header.unique)
	fdHandle uint64             // the fd's handle (Fd.handle)
	fdInode  uint64             // the fd's inode handle, for an inode with no gfid yet (Fd.inode)
	size     int64              // readv: bytes asked for, at most the slot size
	off      int64              // readv, writev: file offset
	n        int64              // writev reply: bytes written
	doff     uint64             // writev in dataHost: the data's offset in the host's iobuf memory
	dtoken   uint64             // writev in dataHost: the host's name for the lent data; release: the token let go of
	gfid     [16]byte           // the fd's inode's gfid (Fd.gfid); zeroes: none
	groups   [ringGroups]uint32 // the caller's supplementary groups, the first ngroups (Header.groups)
	parent   uint32             // toHost: index + 1 of the toPlugin call whose serving made this call; 0: none
	chain    uint64             // the host call this one is part of: the host numbers its toPlugin calls, the plugin copies the number into the calls it makes while serving one; 0: none
	method   uint32             // unary: the method's number (ringMethodIDs)
	code     uint32             // unary reply: the gRPC status code, at most maxCode; not 0: msg holds the status message
	rkind    uint32             // unary reply: where the reply is (dataInline, dataSlot, dataNone)
}

// A call is exactly ringCallSize bytes, a ring head fits its space and
// the call states fit theirs: index does arithmetic with them.
var _ [ringCallSize - unsafe.Sizeof(ringCall{})]byte
var _ [unsafe.Sizeof(ringCall{}) - ringCallSize]byte
var _ [ringHeadSize - unsafe.Sizeof(ringHead{})]byte
var _ [ringCallsOff - ringStatesOff - ringCalls*unsafe.Sizeof(callState{})]byte
var _ [64 - unsafe.Sizeof(callState{})]byte

// ringMethodID numbers one method of the Xlator service on the rings.
type ringMethodID struct {
	id   uint32 // callHdr.method
	name string // the method's name in the Xlator service
	// retry: a call whose reply found no room (dataNone) may be made
	// again by gRPC (it only reads); others fail with
	// ResourceExhausted.
	retry bool
}

// ringMethodIDs are the numbers of the Xlator service's methods on the
// rings (callHdr.method of an opUnary call). They are the protocol's, not
// the .proto's order: a number never changes and is never reused, so
// that a method added to the service, anywhere in it, renumbers nothing.
// A new method takes the next free number, with a new protocol version;
// a method of the service without a number goes by gRPC
// (TestRingMethodTable fails until it has one). Readv and Writev have
// ops of their own.
var ringMethodIDs = [...]ringMethodID{
	{1, "Lookup", true},
	{2, "Stat", true},
	{3, "Fstat", true},
	{4, "Setattr", false},
	{5, "Fsetattr", false},
	{6, "Access", true},
	{7, "Readlink", true},
	{8, "Mknod", false},
	{9, "Mkdir", false},
	{10, "Unlink", false},
	{11, "Rmdir", false},
	{12, "Symlink", false},
	{13, "Rename", false},
	{14, "Link", false},
	{15, "Create", false},
	{16, "Open", false},
	{17, "Flush", false},
	{18, "Fsync", false},
	{19, "Opendir", false},
	{20, "Readdir", true},
	{21, "Fsyncdir", false},
	{22, "Statfs", true},
	{23, "Setxattr", false},
	{24, "Getxattr", true},
	{25, "Listxattr", true},
	{26, "Removexattr", false},
	{27, "Fallocate", false},
	{28, "Discard", false},
	{29, "Zerofill", false},
	{30, "Release", false},
	{31, "Releasedir", false},
	{32, "Forget", false},
	{33, "Lseek", true},
	{34, "Lk", false},
	{35, "Tmpfile", false},
	{36, "CopyFileRange", false},
}
