package xlator

import (
	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
)

// Fops are the file operations every translator implements. Each is a
// synchronous call that returns its results and an error; errors are
// syscall.Errno values or wrap one (use errors.As), so every front end can
// map them to an errno. Every implementation must be safe for concurrent
// use: concurrency comes from many goroutines calling the graph at once.
//
// A translator embeds Base, which passes every fop to the first child
// (CopyFileRange aside: see its comment), and overrides only the fops it
// changes.
//
// Data ownership: Writev's data is lent for the duration of the call; a
// callee that keeps any of it past the return (a cache) takes its own
// reference (Iobref.Ref, or Iobuf.Ref on the pages it keeps). Readv returns
// an iobref holding one reference owned by the caller, who must Unref it.
type Fops interface {
	// Lookup resolves loc (parent + name, or the root) and returns its
	// attributes with Gfid set.
	Lookup(c *Call, loc *Loc) (Iatt, error)
	// Stat returns the attributes of loc.Inode.
	Stat(c *Call, loc *Loc) (Iatt, error)
	// Fstat returns the attributes of an open file.
	Fstat(c *Call, fd *FD) (Iatt, error)
	// Setattr changes the attributes of loc.Inode selected by in.Valid and
	// returns the attributes after the change.
	Setattr(c *Call, loc *Loc, in *SetattrIn) (Iatt, error)
	// Fsetattr is Setattr through an open file.
	Fsetattr(c *Call, fd *FD, in *SetattrIn) (Iatt, error)
	// Access checks mask (R_OK|W_OK|X_OK or F_OK) for the caller.
	Access(c *Call, loc *Loc, mask uint32) error
	// Readlink returns the target of the symlink loc.Inode.
	Readlink(c *Call, loc *Loc) (string, error)
	// Mknod creates a special file or a regular file.
	Mknod(c *Call, loc *Loc, mode, rdev, umask uint32) (Iatt, error)
	// Mkdir creates a directory.
	Mkdir(c *Call, loc *Loc, mode, umask uint32) (Iatt, error)
	// Unlink removes a non-directory entry.
	Unlink(c *Call, loc *Loc) error
	// Rmdir removes an empty directory.
	Rmdir(c *Call, loc *Loc) error
	// Symlink creates loc as a symlink to target.
	Symlink(c *Call, target string, loc *Loc, umask uint32) (Iatt, error)
	// Rename moves from to to; flags are RenameNoReplace/RenameExchange.
	Rename(c *Call, from, to *Loc, flags uint32) error
	// Link creates to as a hard link to from.Inode.
	Link(c *Call, from, to *Loc) (Iatt, error)
	// Create creates and opens a regular file. fd is the new open file, made
	// by the caller for loc.Inode; translators attach their state to it.
	Create(c *Call, loc *Loc, flags uint32, mode, umask uint32, fd *FD) (Iatt, error)
	// Open opens loc.Inode into fd.
	Open(c *Call, loc *Loc, flags uint32, fd *FD) error
	// Readv reads up to size bytes at off. The returned iobref holds one
	// reference for the caller and at most size bytes; fewer bytes than
	// size means end of file. On error the iobref is nil. size and off are
	// never negative and off+size does not overflow (the graph checks).
	Readv(c *Call, fd *FD, size int, off int64) (*iobuf.Iobref, error)
	// Writev writes all of data at off (at the end of the file when the fd
	// was opened with O_APPEND) and returns the bytes written. data is lent
	// for the call only. On success the count is data.Size(). On failure
	// the error comes with the count of bytes at the start of data that
	// reached the file intact, always less than data.Size(): a translator
	// that wrote the data but failed at something it must do with it (a
	// checksum it could not store) returns the error with the count of
	// what it did protect, or 0, never the full count. The graph enforces
	// this (see contract.go): a front end may report a short count as
	// progress, the error then comes with the retry of the rest.
	Writev(c *Call, fd *FD, data *iobuf.Iobref, off int64) (int, error)
	// Flush is called at every close(2) of a file descriptor.
	Flush(c *Call, fd *FD) error
	// Fsync makes the file's data (and metadata unless datasync) durable.
	Fsync(c *Call, fd *FD, datasync bool) error
	// Opendir opens the directory loc.Inode into fd.
	Opendir(c *Call, loc *Loc, fd *FD) error
	// Readdir returns up to count entries after cookie off (0 starts at the
	// beginning); with plus, every entry carries its attributes. An empty
	// result means the end of the directory. "." and ".." are not listed:
	// the front ends add them.
	Readdir(c *Call, fd *FD, off int64, count int, plus bool) ([]Dirent, error)
	// Fsyncdir makes the directory durable.
	Fsyncdir(c *Call, fd *FD, datasync bool) error
	// Statfs returns the statistics of the file system holding loc.
	Statfs(c *Call, loc *Loc) (Statvfs, error)
	// Setxattr sets an extended attribute; flags are XATTR_CREATE/REPLACE.
	Setxattr(c *Call, loc *Loc, name string, value []byte, flags uint32) error
	// Getxattr returns an extended attribute's value (ENODATA if absent).
	Getxattr(c *Call, loc *Loc, name string) ([]byte, error)
	// Listxattr returns the names of the extended attributes.
	Listxattr(c *Call, loc *Loc) ([]string, error)
	// Removexattr removes an extended attribute.
	Removexattr(c *Call, loc *Loc, name string) error
	// Fallocate allocates, punches or zeroes a range (Falloc* modes).
	// For Fallocate, Discard and Zerofill off is never negative, length is
	// positive and off+length does not overflow (the graph checks).
	Fallocate(c *Call, fd *FD, mode uint32, off, length int64) error
	// Discard deallocates a range, which then reads as zeroes; the size
	// does not change.
	Discard(c *Call, fd *FD, off, length int64) error
	// Zerofill writes zeroes over a range, extending the file if needed.
	Zerofill(c *Call, fd *FD, off, length int64) error
	// Lseek returns the offset of the first data (whence SeekData) or
	// the first hole (SeekHole) at or after off, as lseek(2) does: the
	// end of the file counts as a hole, and ENXIO means no data after
	// off (SeekData) or off at or past the end. whence is one of the two
	// and off is never negative (the graph checks). A translator that
	// cannot tell answers ENOSYS, and a front end then takes the whole
	// file as data.
	Lseek(c *Call, fd *FD, off int64, whence uint32) (int64, error)
	// Lk gets, places or removes a lock on fd's file for c.LkOwner, as
	// fcntl(2)'s F_GETLK, F_SETLK and F_SETLKW (cmd LkGet, LkSet,
	// LkSetWait) or, with lock.Whole, flock(2). The result is LkGet's
	// answer; LkSet and LkSetWait return *lock. A conflicting lock makes
	// LkSet fail with EAGAIN; LkSetWait waits for it to go and fails
	// with EINTR when c.Ctx is done first. The graph checks the
	// arguments (lockArgs). A translator that keeps locks (the locks
	// type) answers; the others pass it down, and the bottom answers
	// ENOSYS, which a front end takes as "locks stay in the front end".
	Lk(c *Call, fd *FD, cmd uint32, lock *Flock) (Flock, error)
	// Tmpfile creates a regular file with no name in the directory
	// loc.Parent and opens it into fd, as open(2) with O_TMPFILE does.
	// loc.Name is "" and loc.Inode is the new file's inode, made by the
	// caller (fd.Inode too); loc.GfidReq is honoured as by Create. flags
	// are fd's open flags, with write access (the graph checks: EINVAL
	// otherwise); the file gets mode &^ umask and the caller as owner, as
	// Create gives. The returned attributes carry the new Gfid and Nlink
	// 0; the caller links the inode into its table without a name. The
	// file and its data are gone when its last fd is released, unless it
	// was given a name first: Link with from.Inode this inode (from.Parent
	// nil, while one of its fds is open) names it, as linkat(2) of the fd
	// with AT_EMPTY_PATH does, except when flags had O_EXCL: that file
	// can never be linked (ENOENT, as linkat(2)). A translator that
	// cannot make one answers ENOSYS, and the front end's open then
	// fails with EOPNOTSUPP, as on a file system without O_TMPFILE.
	Tmpfile(c *Call, loc *Loc, flags uint32, mode, umask uint32, fd *FD) (Iatt, error)
	// CopyFileRange copies up to length bytes of the open file src at
	// srcOff to the open file dst at dstOff, as copy_file_range(2) with
	// both offsets given, and returns the count copied; flags must be 0.
	// The count may be short without an error: 0 when srcOff is at or
	// past src's end, fewer than length when src ends first, and fewer
	// when a translator copies less for its own reasons (a caller that
	// wants everything calls again from where the copy stopped). dst
	// grows as a write of the bytes copied would make it grow. On error
	// the count is 0: a translator that copied part and then failed
	// returns the part without the error, and the next call meets it.
	//
	// The graph checks the arguments before the translator is called, as
	// the system call does (contract.go): flags other than 0 or a
	// negative offset EINVAL, a range past the largest file offset
	// EOVERFLOW, a directory EISDIR, src not open for reading or dst not
	// open for writing or opened O_APPEND EBADF, and ranges of one file
	// that overlap EINVAL (src's range cut at the file's end first, so a
	// copy that only asks past the end is not refused). A length of 0
	// returns 0 there. Both fds are of this graph: between graphs a
	// front end answers EXDEV.
	//
	// A translator without a copy of its own answers ENOSYS without
	// doing anything: Base does, unless the translator's type is
	// DataTransparent, whose copy goes to its child. The graph then
	// copies through the translator's own Readv and Writev (CopyByReadWrite),
	// so the bytes are those its reads and writes would move, and ENOSYS
	// leaves the graph only from a translator that cannot read or write
	// either. A translator that copies part itself (a bottom that
	// offloads, stripe where blocks meet on one child) calls
	// CopyByReadWrite for the rest.
	CopyFileRange(c *Call, src *FD, srcOff int64, dst *FD, dstOff, length int64, flags uint32) (int64, error)
}

// Callbacks are not wound down the graph: the graph calls them on every
// translator when an fd or inode goes away, so each drops the state it
// keeps in its context slot.
type Callbacks interface {
	// Release is called once when the last reference to a file fd is gone.
	Release(fd *FD)
	// Releasedir is Release for a directory fd.
	Releasedir(fd *FD)
	// Forget is called once when the inode table drops an inode.
	Forget(in *Inode)
}

// Xlator is a translator: fops, callbacks and lifecycle. Implementations
// embed Base (the unexported method makes that a requirement).
type Xlator interface {
	Fops
	Callbacks
	// Init prepares the translator from its options; the graph calls it
	// bottom-up, after Base is set up (Name, Children, Logger, Pools are
	// usable). An error stops the graph from starting.
	Init(ic *InitContext) error
	// Fini releases what Init took; called top-down when the graph stops.
	Fini()
	// Notify receives graph events. from is the child or parent that sent
	// it, nil for the graph itself. Base.Notify propagates as GlusterFS's
	// default_notify does.
	Notify(ev Event, from Xlator)
	// Dump returns the translator's private state for the statedump as
	// key/value pairs, or nil.
	Dump() []KV

	base() *Base
}

// KV is one key=value line of a statedump section.
type KV struct {
	Key   string
	Value any
}

// Event is a graph notification.
type Event int

// The events of a graph's life, as in GlusterFS.
const (
	// EventParentUp travels down from the top when the graph starts.
	EventParentUp Event = iota + 1
	// EventChildUp travels up when a child can serve fops.
	EventChildUp
	// EventChildDown travels up when a child can no longer serve fops.
	EventChildDown
	// EventParentDown travels down when the graph stops.
	EventParentDown
)

func (e Event) String() string {
	switch e {
	case EventParentUp:
		return "parent-up"
	case EventChildUp:
		return "child-up"
	case EventChildDown:
		return "child-down"
	case EventParentDown:
		return "parent-down"
	}
	return "event?"
}

// InitContext is what a translator gets at Init.
type InitContext struct {
	Options Options
	Logger  *zap.Logger
	Env     *Env
}
