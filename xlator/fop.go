package xlator

// Fop names a file operation, for statistics and the calls in flight.
type Fop uint8

// The fops, in the order statedumps list them.
const (
	FopLookup Fop = iota
	FopStat
	FopFstat
	FopSetattr
	FopFsetattr
	FopAccess
	FopReadlink
	FopMknod
	FopMkdir
	FopUnlink
	FopRmdir
	FopSymlink
	FopRename
	FopLink
	FopCreate
	FopOpen
	FopReadv
	FopWritev
	FopFlush
	FopFsync
	FopOpendir
	FopReaddir
	FopFsyncdir
	FopStatfs
	FopSetxattr
	FopGetxattr
	FopListxattr
	FopRemovexattr
	FopFallocate
	FopDiscard
	FopZerofill
	NumFops
)

var fopNames = [NumFops]string{
	"LOOKUP", "STAT", "FSTAT", "SETATTR", "FSETATTR", "ACCESS", "READLINK",
	"MKNOD", "MKDIR", "UNLINK", "RMDIR", "SYMLINK", "RENAME", "LINK", "CREATE",
	"OPEN", "READ", "WRITE", "FLUSH", "FSYNC", "OPENDIR", "READDIRP", "FSYNCDIR",
	"STATFS", "SETXATTR", "GETXATTR", "LISTXATTR", "REMOVEXATTR", "FALLOCATE",
	"DISCARD", "ZEROFILL",
}

// String returns the fop's name as GlusterFS's io-stats prints it.
func (f Fop) String() string {
	if f < NumFops {
		return fopNames[f]
	}
	return "UNKNOWN"
}
