// Package stripe is the stripe translator (type = "stripe"), GlusterFS's
// cluster/stripe: it spreads each regular file's data over its children in
// blocks, round-robin, so a large file's reads and writes go to several
// bricks at once.
//
// # Layout
//
// A file's Geometry is its block size, the number of children and whether
// it is coalesced. Block k of the file (bytes [k*B, (k+1)*B)) lives on
// child k % N. Without coalesce it sits at the same offset in the child's
// file, which is sparse; with coalesce a child's blocks are packed, block k
// at (k / N) * B. The geometry is chosen when stripe creates the file
// (block-size, or the first block-size-pattern matching the base name;
// coalesce) and stored in the xattr trusted.xstack.stripe of every child
// file (user.xstack.stripe when the children refuse trusted.*), then read
// back into the inode's context at lookup or open: a file keeps its layout
// when the volfile changes. The geometry is read from every child, and
// stripe never guesses one: a file whose xattr is missing on some or all
// children, unreadable, different between children or made for another
// number of children fails with EIO, and one log line names the file and
// what each child holds (a Problem). Nothing is written back: a default
// block size given to a file written with another would read its data
// scrambled.
//
// The logical size is not stored anywhere: each child's size says where
// the last byte it holds sits in the file, and the file ends after the
// furthest one (Geometry.LogicalSize). A truncate sets every child's file
// to the length of the data it holds at the new size (Geometry.ChildSize).
// Bytes below the logical size that no child holds (a child's file ends
// early) are a hole and read as zeroes.
//
// # Data
//
// readv, writev, fallocate, discard and zerofill split their range into
// pieces, one per block, grouped into runs (one child request each: every
// piece without coalesce, a child's whole share with it), and issue them
// in parallel, one goroutine (with its own Call fork) per child concerned.
// No byte is copied: a write gives each child an iobref over the caller's
// iobufs, a read returns an iobref over the children's iobufs in file
// order, plus one zeroed iobuf when it has holes. O_APPEND is never passed
// to the children: stripe finds the logical end under a per-inode lock and
// writes there. The per-call scratch comes from the volume's
// "stripe-local" mem-pool.
//
// copy_file_range copies in segments that lie in one block of each file:
// where the source's and the destination's blocks sit on one child, that
// child copies between its two files (posix asks the kernel); elsewhere,
// and for a hole of the source, stripe reads and writes (copy.go).
//
// # Namespace and identity
//
// Every child holds every directory and every name; a file has one gfid
// on all children. An entry is created on child 0 first, which picks the
// gfid (or honours the caller's Loc.GfidReq), then on the other children in
// parallel with Loc.GfidReq set to it: bottoms must honour GfidReq (mem
// and posix do), and a child that gives another gfid fails the create.
// Symlinks are the exception: unprivileged posix derives a symlink's gfid
// from its inode number, so only child 0's gfid counts for a symlink, and
// its attributes (stat, setattr) and target are child 0's alone; the
// other children keep the name so the namespace stays the same. Entry fops that fail part-way are undone where they
// succeeded (create/mknod/symlink/link by unlink, mkdir by rmdir, rmdir by
// mkdir with the same gfid, rename by the reverse rename); what cannot be
// undone (unlink, setattr, setxattr, removexattr, a failed undo) is logged
// as a divergence naming the children, and counted. An unnamed file
// (tmpfile) is made the same way, child 0 first, with the volume's
// default geometry, and needs no undo: it goes with its fd; linking it
// later is a link like any other (tmpfile.go).
//
// lookup, stat and fstat go to every child and apply one set of rules
// (judgeEntry, judgeGeometry): a name missing on some children, with
// different gfids or types, or a regular file without one good geometry,
// gives EIO and one log line rather than a partial file; there is no
// self-heal. Directories, symlinks and devices report child 0's
// attributes (a symlink's stat asks child 0 alone); a regular file
// reports child 0's identity, birth time and statx mask, the logical size,
// the sum of the children's blocks and the latest times. readdir lists the union of the children's
// names, so a name some children lack is listed and its lookup says what
// is wrong; readdirplus gives an entry the attributes lookup gives it, or
// none when lookup would refuse it. An entry fop in progress leaves the
// children different for a moment: entry fops hold their names' locks,
// and a lookup that finds a name inconsistent looks again under the lock
// before it reports (names.go). Check walks the children with the same
// rules, read-only, for the xstack check command. statfs sums the
// children's space and reports the smallest child's file counts. access,
// readlink, getxattr and listxattr ask child 0; everything else goes to
// every child.
//
// # Children going down
//
// Stripe follows each child's child-up and child-down. A fop that needs a
// child that is down fails with ENOTCONN: most need all of them; a read or
// write needs the children its range lands on; access, readlink, getxattr,
// listxattr and the attributes of a symlink need child 0.
// Stripe reports itself up when every child is.
package stripe
