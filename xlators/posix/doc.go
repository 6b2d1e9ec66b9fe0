// Package posix is the bottom translator of a stack: it stores the
// volume's files in a brick directory on a local file system, as
// GlusterFS's storage/posix does.
//
// # Staying inside the brick
//
// Nothing is ever resolved by a full path. The brick root is opened
// O_PATH|O_DIRECTORY at Init, and every directory inode keeps such a handle
// in its context slot, opened with openat2 beneath its parent's handle
// (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, O_NOFOLLOW).
// Entries are then reached with *at system calls relative to the parent's
// handle and a single-component name, checked first ("", ".", "..", '/'
// and NUL give EINVAL, names over NAME_MAX ENAMETOOLONG). So the depth of
// the tree and the length of its paths are limited only as on the brick's
// own file system, no symlink inside the brick is followed (a symlink
// where a directory was expected gives ELOOP or ENOTDIR), and a directory
// renamed away under a fop is still the one the handle holds. A handle lost
// with its inode's context is re-resolved from the inode table's dentries,
// parent by parent, and must carry the inode's gfid; when it does not, the
// directory is found by gfid in the gfid store (below).
// Opening a symlink gives ELOOP: the front ends resolve symlinks in the
// kernel and never ask posix to open one. Readlink returns a target
// unchanged; what it points to is the client's business.
//
// # Identity
//
// Each file has a gfid in the xattr trusted.xstack.gfid (user.xstack.gfid
// when the process is not root, detected at Init), set when posix creates
// the file and assigned at lookup to files created in the brick behind its
// back. It lives on the inode, so rename and hard links keep it. The brick
// root carries xlator.RootGFID. An unprivileged process cannot set user.*
// xattrs on symlinks; there a symlink's gfid is derived from (st_dev,
// st_ino), stable but reused with the inode number. Clients can neither
// read, list, set nor remove the gfid xattrs; every other xattr (other
// trusted.xstack.* keys included, which translators above use) passes.
// Xattrs are reached through the /proc/self/fd path of an O_PATH fd on the
// file, which acts on the inode itself, symlinks included.
//
// # Gfid handle store
//
// As GlusterFS's .glusterfs, the brick keeps one entry per gfid in
// .xstack/gfid/ab/cd/<gfid> (ab and cd the gfid's first two bytes): a hard
// link to every non-directory (symlinks and special files included), and
// for every directory a symlink "../../<pa>/<pb>/<parent gfid>/<name>"
// naming its parent's entry and its name, so that renaming an ancestor
// changes nothing in it; the root's entry is "../../../..". It lives in
// the private directory because that is already hidden from listings and
// lookups and cannot be created by clients: no second name to hide. The
// entry fops keep it in step (create, mknod, symlink and link make or
// check the entry, mkdir makes the directory's, rename points a moved
// directory's at its new parent and name, unlink, rmdir and a rename over
// a file remove the entry with the file's last name), and the link count
// clients see leaves the store's link out.
//
// A fop that reaches an inode without a name (the front ends' Loc{Inode})
// goes by its first dentry as before; when that fails (no dentry, nothing
// at the name, another gfid there: a rename over it, or an open racing
// one) it goes by gfid through the store, so a live file never gives
// ESTALE. A directory's entry is followed one parent at a time, each found
// by name beneath its parent's handle and checked to carry its gfid. A file
// whose last name goes while it is open has its entry moved to
// .xstack/unlink/<gfid>: it stays reachable by gfid until its last fd is
// released, which removes the entry (so its space is freed); unlink/ is
// emptied at start, since nothing is open then.
//
// The brick may be changed behind the stack's back. An entry is followed
// only to a file that carries its gfid and, for a hard link, still has a
// name besides the entry (a file removed from the brick directly leaves an
// entry that leads nowhere: ENOENT); any other entry is stale (ESTALE) and
// never followed. Lookup (and readdirplus) creates a missing entry and
// replaces a stale one, so a brick made before the store gets its entries
// lazily, as its files are looked up; `xstack check` reports the store's
// problems (missing, stale or wrong-gfid entries, orphans, leftovers in
// unlink/) and `xstack check -repair` repairs them, a whole old brick at
// once. A read-only stack reads the store and never writes it. An entry
// that cannot be kept in step (a full file system, a damaged store) does
// not fail the fop: it is counted (gfid-store.errors in the statedump),
// the first is logged, and the next lookup or check -repair makes it.
// An unnamed file (Tmpfile, below) gets its entry when Link names it.
//
// Attributes come from statx(2), not fstat(2): the same fields, plus the
// file's birth time and statx mask (xlator.Iatt's Btime and Mask) where
// the brick's file system keeps one.
//
// # Unnamed files
//
// Tmpfile opens a file with O_TMPFILE in the brick directory of its
// parent. It gets its gfid as a created file does, and has no name: posix
// keeps an O_PATH fd on it in the inode's context while any fd of the
// inode is open, through which Link names it (linkat of its /proc path,
// unless it was opened O_EXCL) and fops by inode reach it. With the last
// fd released the file is gone from the brick (tmpfile.go).
//
// # One owner, one identity
//
// A brick belongs to one running stack: Init takes an exclusive flock on
// .xstack/lock and writes the owner's pid, command line and start time in
// it; a second stack on the same directory, in any process, fails Init
// with a *BusyError naming the owner. The kernel drops the lock when the
// owner dies, so a crashed stack never keeps a brick. The brick also
// records which brick of which volume it is (.xstack/brick.json, see
// xlator.BrickID): the graph compares it with the volfile before it starts
// (xlator.Graph.CheckBricks), so swapped or mistyped directories refuse to
// start instead of serving another brick's data.
//
// The brick directory is created at Init when it is missing and
// create-directory is true (the default, for xstack run and mount), never
// when the environment says NoCreate (the file commands) or ReadOnly. A
// read-only brick (xlator.Env.ReadOnly) takes the lock shared and changes
// nothing: fops that would change it fail with EROFS, a file without a
// gfid gets one derived from its inode number instead of a stored one, and
// the health check only stats the root.
//
// # Credentials and modes
//
// New files get the caller's uid and gid (the parent's gid under a
// set-group-ID directory, and directories inherit the bit, as Linux does)
// and exactly mode &^ umask from the fop: the process umask is undone with
// a chmod, so a mode of 0000 stays 0000. Access checks the caller's
// credentials against the mode bits, not the daemon's.
//
// # Data
//
// Data fops go through a small dataPath interface, chosen by the data-path
// option. "bio" (the default) makes each read, write, datasync, discard
// and zerofill one runtime/bio bio from the brick's bio set, submitted to
// a bio.Device made for each open file and issued on the fop's own
// goroutine (the device's inline path): the pages are the fop's iobufs
// (no copy), the device keeps statistics, which the statedump shows in
// section bio.<volume> (part bio: the bio set, the brick's totals and each
// open file's device, labelled). A full fsync
// and the general fallocate modes stay system calls (bio has no op for
// them). "direct" does the same IO with pread(2)/pwritev(2) and no bios.
// Both paths allocate nothing per write. With
// o-direct, files are opened O_DIRECT; a request whose offset, length or
// buffer is not aligned for O_DIRECT goes through a second, buffered fd on
// the same file, opened on first need (the kernel keeps the page cache coherent with direct I/O on
// the same inode). The alignment comes from statx (STATX_DIOALIGN) for each
// open file, so a disk with 4 KiB sectors works too, and an EINVAL from the
// O_DIRECT fd retries through the buffered one. Short writes are
// continued; O_APPEND is honoured by the
// kernel (pwritev appends on an O_APPEND fd). fallocate, discard (punch
// hole, keep size) and zerofill (zero range, extending the file) are the
// Linux calls themselves, so their results are what Linux gives on the
// brick's file system; zerofill writes zeroes where zero-range is not
// supported.
//
// copy_file_range is the system call on the two brick files (copy.go):
// the kernel shares blocks where the brick's file system can and copies
// in the kernel elsewhere, so no byte comes up to the process; where it
// refuses (EXDEV, EOPNOTSUPP, ENOSYS, EINVAL for two different files) the
// copy goes through posix's own readv and writev. The statedump counts
// both (copy.kernel, copy.kernel-bytes, copy.fallbacks).
//
// # Read-ahead
//
// With data-path = bio and the read-ahead option above 0 (the window; 0,
// off, is the default: it measured no faster, see bench/README.md), posix
// reads ahead of sequential readers. The state is per fd, as Linux
// keeps file_ra_state per open file: each reader of a file has its own
// position and pattern, so two readers at different places do not take
// each other for random ones. A readv continues the stream when it starts
// where the last one ended, or is served from its windows; after two such
// readvs in a row posix submits read bios for the next window bytes
// asynchronously (bio.Device.Submit, completed by the device's worker)
// into iobufs from the graph's pool, in bios of the window up to 1 MiB
// issued in order, and keeps window bytes ahead of the reader from then
// on. A readv that falls in them is served
// from those iobufs (the returned iobref references them: no copy, no
// pread); one in flight is waited for; a part they do not cover is read as
// without read-ahead. A readv far from the stream (more than a window
// away) drops the windows; one near it (requests of one reader arriving
// out of order) keeps them. Files opened O_DIRECT get no read-ahead: a
// cache in posix is what O_DIRECT opts out of.
//
// Invalidation is per brick file, not per fd: every write, fallocate,
// discard, zerofill, setattr or fsetattr of the size and O_TRUNC open or
// create through posix bumps a generation of the file ((st_dev, st_ino),
// shared by every fd and name) after the change is made, through whichever
// fd or path it came. Windows are tagged with the generation read before
// they were submitted, and a readv serves from them only if it is still
// theirs when the readv has gathered its bytes; otherwise they are dropped
// and the readv reads. So a readv never returns data older than a change
// that returned before it began. Changes made behind posix's back (another
// process writing the brick) are not seen, as with any cache.
//
// A read-ahead bio that fails is dropped (counted in errors) and the readv
// reads normally, returning that read's own result: a failed window never
// turns into data or into end of file. Windows are dropped when the fd is
// released (bios in flight are waited for by the device's Close and freed
// by their completion). Memory is bounded per fd (window + 2 chunks) and
// per brick (read-ahead-total; past it files read without read-ahead and
// throttled counts the bios not submitted). The counters are in posix's
// statedump section and the bio section, prefixed read-ahead.: submitted,
// hits (readvs served wholly), partial-hits, misses, hit-bytes,
// wasted-bytes (read ahead and dropped unread), errors, invalidations,
// resets, throttled, in-flight, held-bytes.
//
// # Space and health
//
// The reserve option keeps free space back, as GlusterFS's storage.reserve:
// writes, creates and allocations that would leave less fail with ENOSPC.
// Free space comes from a statfs at most once a second, minus the bytes
// written since and the bytes writes in flight have reserved: a write
// reserves its length before it starts, atomically against every other
// writer, so a burst of concurrent writers cannot overrun the reserve. A
// growing truncate allocates nothing and is not charged (the brick's own
// EFBIG passes through); fallocate and zerofill are charged for the holes
// of their range. Fops that free space (unlink, rmdir, rename over a file,
// shrinking truncates, punch hole, discard) make the next check take a new
// statfs, so freed space counts at once. Statfs reports the file system
// with the reserve taken out of the free blocks. The fsync option can turn fsync into fdatasync, or
// off for benchmarks (acknowledged data may then be lost in a crash).
//
// A health check (health-check-interval, 0 disables it) stats the brick
// and writes a file in the brick's private directory .xstack at its root,
// which is hidden from listings and lookups and cannot be created by
// clients. On failure the translator sends child-down to its parents and
// fails every fop with EIO; on recovery it sends child-up. At parent-up it
// reports child-up only if the brick passes the same check.
//
// # Pools
//
// Per-open-file contexts ("fd-ctx"), per-open-directory contexts with their
// listing snapshot ("dir-ctx", see dirCtx for the readdir cookies) and the
// iovec arrays of writes ("iovec") come from the translator's own named
// mem-pools, so a statedump shows the brick's share of the workload.
package posix
