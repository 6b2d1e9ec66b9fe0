// Package checksum is a translator that detects data corrupted behind the
// stack's back: on every write it records a CRC32C of each block of the
// file (block-size bytes, 64 KiB by default) in an extended attribute of
// the file on its child, and every read checks the blocks it returns
// against them, failing with EIO (and an error in the log naming the file,
// block and both sums) when one no longer matches.
//
// A block's sum covers the block padded with zeroes to block-size, so
// extending a file (which makes the old last block longer by zeroes) keeps
// the sums valid. Reads are widened to whole blocks below the translator
// and trimmed on the way back up, without copying. A partly written block
// is read back (through the writer's fd, or a read-only fd the translator
// opens for the file) to sum it whole. Operations whose effect the
// translator does not compute (a truncate to the middle of a block, a
// partial punch) mark the blocks they touch as unknown: those are not
// checked until rewritten.
//
// The table lives in the xattr named by the xattr option
// ("trusted.xstack.checksum", hidden from FUSE clients) as "XCK1", the
// block size and one little-endian uint32 per block, 0 meaning unknown;
// it is cached on the inode. Callers cannot set or remove that xattr.
//
// The translator runs in process (register Type) or as a plugin (the
// binary in examples/plugins/checksum serves it with plugin.Serve).
package checksum
