// Package fuse mounts an xlator graph in the kernel through FUSE: the role
// of GlusterFS's fuse-bridge. It implements go-fuse's raw protocol
// interface (fuse.RawFileSystem) directly, not go-fuse's node API, because
// the graph already has the inode table a node API would duplicate
// (xlator.Table, with GFIDs, dentries and lookup counts).
//
// Node ids. FUSE names files by 64-bit node ids. Node id 1 is the table's
// root; every other id is handed out, from a counter that never reuses a
// value, the first time an entry reply (LOOKUP, CREATE, MKDIR, MKNOD,
// SYMLINK, LINK, TMPFILE, a READDIRPLUS entry) names an inode the kernel
// does not know. A mutex-guarded map takes the id back to the *xlator.Inode; an id
// from the kernel that is not in the map is answered with ESTALE, never
// trusted. Every entry reply links the inode in the table (Table.Link) and
// adds one kernel lookup (Table.AddLookup); FORGET and BATCH_FORGET
// subtract them (Table.ForgetLookup), and the id is dropped when its count
// reaches zero. Hard links resolve to one inode and so to one node id.
// st_ino is the brick's inode number (Iatt.Ino, the node id only if the
// brick gives none), so it is stable across lookups, forgets and links.
//
// Requests. Every FUSE request becomes one xlator.Call carrying the
// caller's uid, gid and pid from the request header and the request's
// unique id, and runs synchronously on the goroutine that read it from
// /dev/fuse. Root mounts with mount(2) and serves with a reader loop of
// its own (conn.go): one worker reads while requests come one at a time,
// so a single caller's requests stay on one thread, and more join as soon
// as requests overlap; go-fuse's ProtocolServer decodes and answers every
// request but READ. Anyone else mounts through fusermount and is served
// by go-fuse's loop (Config.GoFuseLoop asks for it as root too). With
// Config.Transport "io-uring" the own loop's requests come through FUSE
// over io_uring instead, a queue per CPU served on a thread of its own
// (uring.go), and /dev/fuse carries FORGET and INTERRUPT only.
//
// Interrupts. Every call carries a context (xlator.Call.Ctx) that is
// cancelled when the kernel sends INTERRUPT for its request: when the
// calling thread gets a signal while it waits, and when the calling
// process is killed, whichever loop serves the mount and whatever the
// request (READ and WRITE included). A fop that gives up on it
// (ECANCELED or context.Canceled) is answered EINTR: the caller's system
// call returns EINTR, a killed caller exits at once instead of waiting in
// D state (TestInterruptedReadWrite, TestKilledCallerFreed). The context
// carries xlator.WaitsAnyway's mark and the caller's pid: the kernel
// interrupts for any signal (Go's preemption signal too), and an EINTR
// from stat(2) or rename(2) surprises a caller that lives on, so a fop
// may give up only for a caller that is dying (xlator.CallerDying,
// Call.GaveUp) or a lock wait; a plugin's transport, write-behind's wait
// for a flush and the copy loops do so (plugin/host's TestDeadlineFUSE,
// TestFlushWaitCancel, TestCopyCancelled). A fop that ignores it is answered when it
// finishes, and the caller waits until then (TestLoopInterruptRead). The
// own loop reads an INTERRUPT within about 10 ms when every worker is
// busy (its watchdog adds a reader); a READ or WRITE it serves allocates
// nothing for its context (TestLoopAllocatesNothing).
//
// Names are checked before a fop is wound: "", ".", "..", and names with
// '/' give EINVAL, names over 255 bytes ENAMETOOLONG. A fop error that is
// (or wraps) a syscall.Errno goes back to the kernel as that errno; any
// other error becomes EIO and is logged. Supplementary groups are not
// collected (reading /proc/PID/status per request is not cheap); with
// default_permissions the kernel checks permissions itself.
//
// Umask. CREATE, MKDIR and MKNOD carry the caller's umask, and the kernel
// has already applied it to the mode (the bridge does not ask for
// FUSE_DONT_MASK); the bridge passes both down unchanged and applies no
// umask of its own. The daemon's own umask does not matter to the bridge;
// the CLI sets it to 0 so that the bottom of the stack applies only the
// fop's umask and a mode of 0000 stays 0000.
//
// Data. A WRITE's data lives in the reader's request buffer, which is
// reused once the handler returns, so the bridge copies it once into
// pooled iobufs and lends that iobref to Writev. A READ returns a
// fuse.ReadResult over the iobref Readv returned: it hands the loop the
// iobref's segments (the vectored interface), so the reply goes to the
// kernel with writev(2) and no copy, and it drops the iobref when the
// loop calls Done after the reply is sent. Read results are pooled.
//
// Caching. Attributes and entries carry Config's timeouts. OPEN replies
// FOPEN_KEEP_CACHE when the file's mtime and size are what they were at
// the previous open through this mount and no write, truncate, fallocate
// or copy_file_range into it went through this mount since, so a file read again is served from the
// page cache (GlusterFS's fopen-keep-cache). The kernel writes through to
// the bridge (no writeback cache), so its page cache stays coherent with
// this mount's own writes.
//
// The coherence rule for changes made below the bridge (another client of
// a brick, a translator that changes a file): the kernel's pages of a file
// never outlive the attributes the graph returns for it. The kernel asks
// for attributes again once AttrTimeout has passed, before a read
// (auto_inval_data, which the bridge negotiates), and drops the file's
// pages when the mtime or size moved; an OPEN drops them when they differ
// from the previous open's. Those attributes come through the graph's top,
// so every caching translator sees them on the way up and drops its own
// stale data before the kernel reads again (the cache translator does; a
// caching translator must). A change below the bridge is therefore read
// through a file kept open at most AttrTimeout after the graph's bottom
// shows it, and through an open made after it at once
// (TestCoherenceBehindCache). A change that keeps mtime and size is not
// seen until the pages are evicted. Sooner than AttrTimeout when a
// translator learns of it: the cache translator reports every change it
// finds behind it (xlator.Graph.Invalidate), and the bridge then has the
// kernel drop the file's pages and attributes at once
// (NOTIFY_INVAL_INODE; TestInvalidateUpcall).
//
// Passthrough (Config.Passthrough). Where every translator between the
// bridge and a file's backing file lets the data pass, the kernel reads
// and writes that file itself (FUSE_PASSTHROUGH, kernel 6.9+): the
// graph sees the file's metadata fops, not its data. Which translators
// let data pass: those whose type says DataTransparent (none of the
// shipped translators that sit above posix does: cache keeps pages,
// stripe splits data, write-behind holds it, a plugin runs its own code
// on it), down to a bottom that gives backing files (posix, unless it
// keeps a reserve). A translator declares it with xlator.Type's
// DataTransparent; a plugin cannot. passthrough.go has the rules
// (TestPassthrough).
//
// Notifications. The bridge writes NOTIFY_INVAL_INODE for inodes the
// graph invalidates and NOTIFY_INVAL_ENTRY to keep the kernel's inodes
// within Config.InodeLRULimit (TestInodeLRULimit), from a goroutine of
// their own, never from a request's (notify.go says why).
//
// Privileges. A write, truncate or chown must drop set-ID bits and file
// capabilities. The kernel asks the daemon GETXATTR security.capability
// before every WRITE to find out, unless the server takes the job over
// with FUSE_HANDLE_KILLPRIV_V2: the bridge does, and drops them itself
// through the graph, checking a file once until its attributes change
// (privs.go). On kernels without KILLPRIV_V2 the bridge answers
// security.capability ENODATA without winding, which keeps the per-write
// round trip short but leaves file capabilities unsupported there.
//
// Unnamed files, birth times, ioctls. open(2) with O_TMPFILE arrives as
// TMPFILE, answered by the graph's Tmpfile with a node the table links by
// gfid alone; linkat(2) of it arrives as a LINK of that node
// (TestTmpfile). A statx(2) that asks for the birth time arrives as
// STATX (kernel 6.6+), answered from Stat or Fstat with the brick's
// birth time and mask (TestStatxBirthTime). No init flag is needed for
// either. Every ioctl is answered ENOTTY without a fop (TestIoctlENOTTY).
//
// The namespace trusted.xstack. is internal to the stack (GFIDs and other
// translator metadata): GETXATTR on it gives ENODATA, SETXATTR and
// REMOVEXATTR give EPERM, and LISTXATTR leaves it out.
package fuse
