package fuse

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xstack/xstack/xlator"
)

// Directory offsets. The kernel continues a listing from the offset of
// the last entry it took. Offsets 1 and 2 are the bridge's "." and "..";
// a brick entry with cookie k goes to the kernel as k+2, so the two never
// collide and no listing state is needed to resume (a brick cookie is
// never 0: 0 means the start).
const (
	offDot    = 1
	offDotDot = 2
	offShift  = 2
)

// Average reply sizes of one entry, to size the brick request from the
// kernel's buffer: a dirent header and a short name, and with plus an
// entry_out before it.
const (
	direntGuess     = 24 + 16
	direntPlusGuess = 128 + direntGuess
	maxReaddirCount = 1024
)

// errNoCookie is a translator's Readdir entry with no continuation cookie.
var errNoCookie = errors.New("fuse: readdir entry has no cookie (Dirent.Off)")

// OpenDir opens a directory.
func (b *bridge) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := b.node(in.NodeId)
	if n == nil {
		return b.refuse(opOpendir, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opOpendir, xlator.FopOpendir, &in.InHeader, cancel)
	defer c.Done()
	fd := b.g.NewFD(n.in, in.Flags, in.Pid, true)
	if err := b.top.Opendir(c, &xlator.Loc{Inode: n.in}, fd); err != nil {
		fd.Unref()
		return b.fail(opOpendir, err)
	}
	out.Fh = b.handles.add(&handle{fd: fd, node: n})
	return fuse.OK
}

// ReadDir lists names and types.
func (b *bridge) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return b.readdir(cancel, opReaddir, in, out, false)
}

// ReadDirPlus lists entries with their attributes; every entry the reply
// carries is a lookup the kernel counts.
func (b *bridge) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return b.readdir(cancel, opReaddirplus, in, out, true)
}

func (b *bridge) readdir(cancel <-chan struct{}, o op, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(o, fuse.EBADF)
	}
	c := b.begin(o, xlator.FopReaddir, &in.InHeader, cancel)
	defer c.Done()
	hd.mu.Lock()
	defer hd.mu.Unlock()

	off := in.Offset
	if off < offDot {
		if !b.addDirent(out, plus, hd, ".", syscall.S_IFDIR, offDot, 0, nil) {
			return fuse.OK
		}
		off = offDot
	}
	if off < offDotDot {
		if !b.addDirent(out, plus, hd, "..", syscall.S_IFDIR, offDotDot, 0, nil) {
			return fuse.OK
		}
		off = offDotDot
	}

	// Entries the previous reply had no room for continue this one.
	ents := hd.pending
	if len(ents) == 0 || hd.pendingOff != off || hd.pendingPl != plus {
		guess := direntGuess
		if plus {
			guess = direntPlusGuess
		}
		count := min(max(int(in.Size)/guess, 1), maxReaddirCount)
		var err error
		ents, err = b.top.Readdir(c, hd.fd, int64(off-offShift), count, plus)
		if err != nil {
			hd.pending = nil
			return b.fail(o, err)
		}
	}
	hd.pending = nil
	for i := range ents {
		d := &ents[i]
		if d.Off <= 0 {
			// A cookie of 0 would send the kernel back to the start forever.
			return b.fail(o, fmt.Errorf("%w: %q has cookie %d", errNoCookie, d.Name, d.Off))
		}
		if !checkName(d.Name).Ok() {
			// A brick that lists "." or ".." itself: the bridge already did.
			off = uint64(d.Off) + offShift
			continue
		}
		var attr *xlator.Iatt
		if plus && !d.Attr.Gfid.IsZero() {
			attr = &d.Attr
		}
		typ := d.Type
		if typ == 0 {
			typ = d.Attr.Type()
		}
		if !b.addDirent(out, plus, hd, d.Name, typ, uint64(d.Off)+offShift, d.Ino, attr) {
			// Keep the rest for the next request, which continues here.
			hd.pending = ents[i:]
			hd.pendingOff = off
			hd.pendingPl = plus
			break
		}
		off = uint64(d.Off) + offShift
	}
	return fuse.OK
}

// addDirent adds one entry; with plus and attributes it links the
// entry and fills its entry_out, which counts as a kernel lookup. It
// reports false when the reply is full.
func (b *bridge) addDirent(out *fuse.DirEntryList, plus bool, hd *handle, name string, typ uint32, off, ino uint64, attr *xlator.Iatt) bool {
	de := fuse.DirEntry{Name: name, Mode: typ, Ino: ino, Off: off}
	if attr != nil && de.Ino == 0 {
		de.Ino = attr.Ino
	}
	if !plus {
		return out.AddDirEntry(de)
	}
	eo := out.AddDirLookupEntry(de)
	if eo == nil {
		return false
	}
	if attr != nil {
		b.entry(nil, hd.node.in, name, attr, eo)
	}
	return true
}

// ReleaseDir closes a directory.
func (b *bridge) ReleaseDir(in *fuse.ReleaseIn) {
	b.stats.ops[opReleasedir].count.Add(1)
	if hd := b.handles.remove(in.Fh); hd != nil {
		hd.pending = nil
		hd.fd.Unref()
	} else {
		b.stats.ops[opReleasedir].errors.Add(1)
	}
}

// FsyncDir makes a directory durable.
func (b *bridge) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(opFsyncdir, fuse.EBADF)
	}
	c := b.begin(opFsyncdir, xlator.FopFsyncdir, &in.InHeader, cancel)
	defer c.Done()
	if err := b.top.Fsyncdir(c, hd.fd, in.FsyncFlags&1 != 0); err != nil {
		return b.fail(opFsyncdir, err)
	}
	return fuse.OK
}
