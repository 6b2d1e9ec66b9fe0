// Package checksum is a translator that detects data corrupted behind the
// stack's back: on every write it records a CRC32C of each block of the
// file (block-size bytes, 64 KiB by default) in the file's table, and
// every read checks the blocks it returns against it, failing with EIO
// (and an error in the log naming the file, block and both sums) when one
// no longer matches. Reads are widened to whole blocks below the
// translator and trimmed on the way back up, without copying.
//
// # Guarantees
//
// A write never reports as written a byte it cannot protect. When the
// file's table cannot be opened or made, or a block the write covers only
// in part cannot be read or fails its check, nothing is written and the
// write fails. When the sums cannot be stored (the disk is full, say), the
// write fails and its count covers only the bytes at the start of the data
// whose blocks' sums were stored: it is never the full length with an
// error. A read fails with EIO when a block it returns does not match its
// sum or its sum cannot be read. Fsync syncs the file's data, then its
// table.
//
// Files of any size are protected, and so are open files whose last name
// is gone: their table stays open without a name while the translator
// holds the file's state (from its first read or write until the inode is
// forgotten, which is after its last close), and goes away with it.
//
// Files that have no table (written before the translator was in the
// stack, or behind its back) are read unchecked. Their first write through
// the translator makes one, in which the blocks the file already holds are
// unknown: unknown blocks are read unchecked until rewritten.
//
// # Tables
//
// Extended attributes cannot hold the sums: ext4 without ea_inode keeps
// all the xattrs of an inode in one 4 KiB block, about 63 MiB of data at
// 64 KiB per sum however they are split. So the sums of each regular file
// live in a table file, reached through the same child as the data, in
// the directory named by the table-dir option (".xstack-checksum") at the
// root of the volume, and named after the file's gfid ("<uuid>"), so
// renames and hard links need no change. The translator hides that
// directory from clients: looking it up, removing or renaming it answer
// ENOENT, creating an entry of its name EPERM, and the root's listing
// leaves it out. The directory and tables are made with root's
// credentials, mode 0700 and 0600.
//
// A table file is an 8-byte header, "XCK2" and the table's block size
// (uint32, little-endian), then one little-endian uint32 entry per block:
// entry b, at offset 8+4b, covers bytes [b*bs, (b+1)*bs) of the file. An
// entry is the CRC32C (Castagnoli) of the block padded with zeroes to the
// block size, XORed with the CRC32C of a block of zeroes; 0xffffffff marks
// an unknown block (the one CRC that would give it is stored as
// 0xfffffffe). So entry 0 stands for a block of zeroes, and a hole in the
// table, or its end, for a hole in the file: a truncate that grows a file
// or a sparse write past its end changes no entry. A write stores only the
// entries of the blocks it covers, in one write to the table. The block
// size lives in each table, so changing the option applies to files that
// get a table from then on; existing tables keep theirs.
//
// Sums follow every fop that changes data. A block that a write, discard,
// zerofill or punched range covers in part is read first, checked, and
// summed whole with the change spliced in, so corruption already there is
// reported, not blessed. A truncate drops the entries past the new end and
// sums the block the end falls in again, from its content checked before;
// a block that fails that check keeps its old entry and keeps failing
// reads. Fallocate modes that move data (collapse and insert range) are
// refused with EOPNOTSUPP. When the last name of a regular file goes (an
// unlink, or a rename over it), its table goes too.
//
// # State and concurrency
//
// The translator keeps each file's state in its inode's context: the open
// table file, and pages of 1024 entries read on demand (at most 256 per
// file, from a mem-pool of this volume's, written through, so a statedump
// shows them and dropping one loses nothing). Writes, truncates and
// zeroing of one file are serialised, from before their data reaches the
// child until their sums are stored; reads of one file run in parallel
// with each other, never with those.
//
// # Limits
//
// Data and sums are not written atomically: after a crash between the two,
// reads of the blocks involved fail with EIO until rewritten (never
// silently wrong). A table whose data file lost its last name outside the
// translator, or while the removal could not reach it, stays behind; it
// is named after a gfid that is never reused, so it is never confused with
// another file's, and a scrub may remove it. A write through a write-only
// fd that covers part of a block needs the rest of the block to sum it:
// the translator opens the file for reading by its identity, which posix
// can do even when the file has no name left (its gfid handle store); a
// child that cannot makes such a write fail, never half-protected.
//
// The translator runs in process (register Type) or as a plugin (the
// binary in examples/plugins/checksum serves it with plugin.Serve).
package checksum
