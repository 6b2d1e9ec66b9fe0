package fuse

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// internalXattrPrefix is the xattr namespace the stack keeps for itself.
const internalXattrPrefix = "trusted.xstack."

// capabilityXattr is asked for by the kernel before every write.
const capabilityXattr = "security.capability"

// maxName is the longest name a directory entry may have (NAME_MAX).
const maxName = 255

// bridge implements fuse.RawFileSystem over a graph's top. Operations it
// does not implement are answered ENOSYS by the embedded default.
type bridge struct {
	fuse.RawFileSystem

	g       *xlator.Graph
	top     xlator.Xlator
	tab     *xlator.Table
	iobufs  *iobuf.Pool
	log     *zap.Logger
	cfg     Config
	nodes   *nodeTable
	handles *handleTable
	stats   counters
	chunk   int // largest iobuf class: the piece size of copied writes

	// windCapability sends security.capability GETXATTRs down the graph
	// instead of answering them at the bridge (for measuring the cost)
	// when the kernel did not agree to KILLPRIV_V2.
	windCapability bool
	// killPriv: the kernel agreed to FUSE_HANDLE_KILLPRIV_V2, so the
	// bridge drops set-ID bits and capabilities itself (privs.go).
	killPriv bool

	// writeback: the kernel agreed to keep writes in its page cache
	// (Config.WritebackCache, FUSE_WRITEBACK_CACHE at INIT).
	writeback bool

	// pt is the mount's passthrough state (passthrough.go);
	// ptNegotiated: the kernel agreed to FUSE_PASSTHROUGH at INIT.
	pt           passthrough
	ptNegotiated bool

	// notifier writes kernel notifications (notify.go); nil until the
	// mount is up.
	notifier atomic.Pointer[notifier]
	// notifyMu orders starting and stopping the notifier (a mount's end
	// may come before the mount finished starting it).
	notifyMu      sync.Mutex
	dropUpcall    func() // undoes the graph upcall registration
	notifyStopped bool
}

var _ fuse.RawFileSystem = (*bridge)(nil)

func newBridge(g *xlator.Graph, cfg Config, log *zap.Logger) *bridge {
	b := &bridge{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		g:             g,
		top:           g.Top(),
		tab:           g.Inodes(),
		iobufs:        g.Env().Iobufs,
		log:           log,
		cfg:           cfg,
		nodes:         newNodeTable(g.Inodes()),
		handles:       newHandleTable(),
	}
	for _, c := range b.iobufs.Classes() {
		b.chunk = max(b.chunk, c.PageSize)
	}
	return b
}

func (b *bridge) String() string { return "xstack" }

// OnUnmount releases what the kernel still held when the connection ended:
// open handles (their RELEASE will never come) and lookups (no FORGET).
func (b *bridge) OnUnmount() {
	b.stopNotifier()
	b.releaseAll()
}

func (b *bridge) releaseAll() {
	for _, h := range b.handles.removeAll() {
		h.fd.Unref()
	}
	b.nodes.forgetAll()
}

// begin counts a request and starts its call with the caller's
// credentials, the request's unique id and a context that is done once
// cancel is closed: when the kernel interrupts the request.
func (b *bridge) begin(o op, fop xlator.Fop, h *fuse.InHeader, cancel <-chan struct{}) *xlator.Call {
	b.stats.ops[o].count.Add(1)
	yieldSometimes()
	return b.g.Calls().BeginCancel(cancel, fop, xlator.Creds{Uid: h.Uid, Gid: h.Gid, Pid: h.Pid}, h.Unique)
}

// fail counts an error reply and maps err to the status the kernel gets:
// the errno a fop returned (or wrapped); EINTR for a fop that gave up
// because its request was interrupted (ECANCELED or context.Canceled),
// as the kernel expects of an interrupted request; ETIMEDOUT for
// context.DeadlineExceeded; EIO for anything else, logged because it is
// a bug in a translator.
func (b *bridge) fail(o op, err error) fuse.Status {
	b.stats.ops[o].errors.Add(1)
	switch {
	case errors.Is(err, syscall.ECANCELED) || errors.Is(err, context.Canceled):
		return fuse.EINTR
	case errors.Is(err, context.DeadlineExceeded):
		return fuse.Status(syscall.ETIMEDOUT)
	}
	errno, ok := err.(syscall.Errno)
	if !ok && !errors.As(err, &errno) {
		b.log.Error("fop failed without an errno; replying EIO", zap.Stringer("op", o), zap.Error(err))
		return fuse.EIO
	}
	if errno == 0 {
		b.log.Error("fop failed with errno 0; replying EIO", zap.Stringer("op", o), zap.Error(err))
		return fuse.EIO
	}
	return fuse.Status(errno)
}

// refuse counts an error the bridge answers itself.
func (b *bridge) refuse(o op, st fuse.Status) fuse.Status {
	b.stats.ops[o].count.Add(1)
	b.stats.ops[o].errors.Add(1)
	return st
}

// checkName refuses what can never be a single entry name.
func checkName(name string) fuse.Status {
	switch {
	case name == "" || name == "." || name == "..":
		return fuse.EINVAL
	case len(name) > maxName:
		return fuse.Status(syscall.ENAMETOOLONG)
	case strings.IndexByte(name, '/') >= 0 || strings.IndexByte(name, 0) >= 0:
		return fuse.EINVAL
	}
	return fuse.OK
}

// node resolves a kernel node id; nil means the kernel named a node the
// bridge does not know (ESTALE).
func (b *bridge) node(id uint64) *node { return b.nodes.get(id) }

// entry links a new or found file into the table under parent/name,
// records the kernel's lookup, and fills out. in is the inode the caller
// made or found (or nil); the caller keeps its reference on in. The
// returned inode is the linked one (with its node), valid while the
// kernel holds the lookup just added.
func (b *bridge) entry(in *xlator.Inode, parent *xlator.Inode, name string, ia *xlator.Iatt, out *fuse.EntryOut) (*xlator.Inode, *node) {
	linked := b.tab.Link(in, parent, name, ia)
	n := b.nodes.lookedUp(linked)
	linked.Unref() // the kernel's lookup now keeps it
	b.fillEntry(out, n, ia)
	return linked, n
}

func (b *bridge) fillEntry(out *fuse.EntryOut, n *node, ia *xlator.Iatt) {
	out.NodeId = n.id
	out.Generation = 1
	n.privClean.Store(false) // fresh attributes: check again, as the kernel clears S_NOSEC
	out.SetEntryTimeout(b.cfg.EntryTimeout)
	out.SetAttrTimeout(b.cfg.AttrTimeout)
	fillAttr(&out.Attr, ia, n.id)
}

// fillAttr converts attributes. st_ino is the brick's inode number, stable
// for a file across lookups and hard links; the node id stands in only
// when the brick gives none.
func fillAttr(a *fuse.Attr, ia *xlator.Iatt, id uint64) {
	a.Ino = ia.Ino
	if a.Ino == 0 {
		a.Ino = id
	}
	a.Size = uint64(ia.Size)
	a.Blocks = uint64(ia.Blocks)
	a.Atime, a.Atimensec = uint64(ia.Atime.Sec), uint32(ia.Atime.Nsec)
	a.Mtime, a.Mtimensec = uint64(ia.Mtime.Sec), uint32(ia.Mtime.Nsec)
	a.Ctime, a.Ctimensec = uint64(ia.Ctime.Sec), uint32(ia.Ctime.Nsec)
	a.Mode = ia.Mode
	a.Nlink = ia.Nlink
	a.Uid, a.Gid = ia.Uid, ia.Gid
	a.Rdev = uint32(ia.Rdev)
	a.Blksize = ia.Blksize
}

func (b *bridge) fillAttrOut(out *fuse.AttrOut, ia *xlator.Iatt, id uint64) {
	out.SetTimeout(b.cfg.AttrTimeout)
	fillAttr(&out.Attr, ia, id)
}

// negative answers a LOOKUP of a missing name: with a negative timeout
// the kernel caches the absence (an entry reply with node id 0).
func (b *bridge) negative(out *fuse.EntryOut) fuse.Status {
	if b.cfg.NegativeTimeout <= 0 {
		return fuse.ENOENT
	}
	*out = fuse.EntryOut{}
	out.SetEntryTimeout(b.cfg.NegativeTimeout)
	return fuse.OK
}

func timespecOf(sec uint64, nsec uint32) xlator.Timespec {
	return xlator.Timespec{Sec: int64(sec), Nsec: int64(nsec)}
}
