package fuse

import (
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
)

// serve answers the request entry e carries, leaving the reply in its
// buffers for the commit: the out header in the header buffer's in_out,
// the reply's arguments in the payload buffer, their size in
// payload_sz.
//
// The kernel splits a request over three places: its fuse_in_header in
// in_out, the opcode's argument struct (the first in argument) in op_in,
// and the other in arguments (names, a WRITE's data, extensions) in the
// payload buffer. in_header.len is the request's length as /dev/fuse
// would carry it, so op_in holds len - 40 - payload_sz bytes. READ and
// WRITE are served as conn serves them; every other request goes through
// the ProtocolServer, to which the three parts are one byte stream.
func (e *ringEnt) serve() {
	c := e.q.s.c
	h := (*fuse.InHeader)(unsafe.Pointer(&e.hdr[0]))
	io := e.inOut()
	psz := int(io.PayloadSz)
	opLen := int(h.Length) - sizeofInHeader - psz
	if psz > len(e.payload) || opLen < 0 || opLen > ringEntInOut-ringOpIn {
		c.log.Error("malformed ring request", zap.Uint32("opcode", h.Opcode), zap.Uint32("len", h.Length), zap.Int("payload", psz))
		e.replyError(h.Unique, fuse.EIO)
		return
	}
	copy(e.in[:sizeofInHeader], e.hdr[:sizeofInHeader])
	copy(e.in[sizeofInHeader:], e.hdr[ringOpIn:ringOpIn+opLen])
	in := e.in[:sizeofInHeader+opLen]
	h = (*fuse.InHeader)(unsafe.Pointer(&e.in[0]))
	switch {
	case h.Opcode == opcodeRead && len(in) >= sizeofReadIn:
		e.serveRead((*fuse.ReadIn)(unsafe.Pointer(&e.in[0])))
		return
	case h.Opcode == opcodeWrite && len(in) >= sizeofWriteIn && h.TotalExtlen == 0 && c.minor >= 9:
		if w := (*fuse.WriteIn)(unsafe.Pointer(&e.in[0])); int(w.Size) == psz {
			e.serveWrite(w, e.payload[:psz])
			return
		}
	}
	e.inIov[0], e.inIov[1] = in, e.payload[:psz]
	e.outIov[0], e.outIov[1] = e.hdr[:sizeofOutHeader], e.payload
	e.psUnique.Store(h.Unique)
	m, st := c.ps.HandleRequest(e.inIov[:], e.outIov[:])
	e.psUnique.Store(0)
	e.inIov, e.outIov = [2][]byte{}, [2][]byte{}
	switch {
	case !st.Ok():
		e.replyError(h.Unique, st)
	case m < sizeofOutHeader:
		// No reply (the ProtocolServer drops an EINTR once the
		// connection is dead): the kernel still wants its entry back.
		e.replyError(h.Unique, fuse.EINTR)
	default:
		io.PayloadSz = uint32(m - sizeofOutHeader)
	}
}

// serveRead answers a READ with a copy of the iobufs into the payload
// buffer.
func (e *ringEnt) serveRead(in *fuse.ReadIn) {
	c := e.q.s.c
	if c.debug {
		c.log.Debug("READ (ring)", zap.Uint64("unique", in.Unique), zap.Uint64("node", in.NodeId), zap.Uint64("fh", in.Fh), zap.Uint64("off", in.Offset), zap.Uint32("size", in.Size))
	}
	e.fastUnique.Store(in.Unique)
	res, st := c.readFop(e.cancel, in)
	e.fastUnique.Store(0)
	e.renewCancel()
	if !st.Ok() {
		e.replyError(in.Unique, st)
		return
	}
	n := 0
	if r, ok := res.(*readResult); ok {
		for _, v := range r.iov {
			n += copy(e.payload[n:], v)
		}
	} else if res.Size() > 0 {
		b, st := res.Bytes(e.payload)
		if !st.Ok() {
			res.Done()
			e.replyError(in.Unique, st)
			return
		}
		n = copy(e.payload, b)
	}
	res.Done()
	e.reply(in.Unique, n)
}

// serveWrite answers a WRITE whose data is in the payload buffer.
func (e *ringEnt) serveWrite(in *fuse.WriteIn, data []byte) {
	c := e.q.s.c
	if c.debug {
		c.log.Debug("WRITE (ring)", zap.Uint64("unique", in.Unique), zap.Uint64("node", in.NodeId), zap.Uint64("fh", in.Fh), zap.Uint64("off", in.Offset), zap.Uint32("size", in.Size))
	}
	e.fastUnique.Store(in.Unique)
	e.data[0] = data
	size, st := c.writeFop(e.cancel, in, e.data[:])
	e.data[0] = nil
	e.fastUnique.Store(0)
	e.renewCancel()
	if !st.Ok() {
		e.replyError(in.Unique, st)
		return
	}
	*(*fuse.WriteOut)(unsafe.Pointer(&e.payload[0])) = fuse.WriteOut{Size: size}
	e.reply(in.Unique, sizeofWriteOut)
}

// renewCancel gives the entry a fresh cancel channel after an INTERRUPT
// closed its last one.
func (e *ringEnt) renewCancel() {
	c := e.q.s.c
	if !e.interrupted.Load() {
		return
	}
	c.mu.Lock()
	e.cancel = make(chan struct{})
	e.interrupted.Store(false)
	c.mu.Unlock()
}

// reply writes a successful out header with n bytes of payload.
func (e *ringEnt) reply(unique uint64, n int) {
	*(*fuse.OutHeader)(unsafe.Pointer(&e.hdr[0])) = fuse.OutHeader{Length: uint32(sizeofOutHeader + n), Unique: unique}
	e.inOut().PayloadSz = uint32(n)
}

// replyError writes an out header with errno st and no payload.
func (e *ringEnt) replyError(unique uint64, st fuse.Status) {
	*(*fuse.OutHeader)(unsafe.Pointer(&e.hdr[0])) = fuse.OutHeader{Length: uint32(sizeofOutHeader), Status: -int32(st), Unique: unique}
	e.inOut().PayloadSz = 0
}
