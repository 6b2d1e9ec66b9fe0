package posix

import "github.com/xstack/xstack/xlator"

// TypeName is the name volfiles use for this translator: type = "posix".
const TypeName = "posix"

// Schema is the option schema of the posix translator.
var Schema = xlator.Schema{
	{Name: "directory", Kind: xlator.KindPath, Required: true,
		Doc: "the brick: the directory that holds the volume's files"},
	{Name: "o-direct", Kind: xlator.KindBool, Default: "false",
		Doc: "open files O_DIRECT (bypassing the page cache); requests not aligned as the file system asks (statx: 512 bytes on most disks, 4096 on 4Kn disks) go through a second, buffered fd"},
	{Name: "create-directory", Kind: xlator.KindBool, Default: "true",
		Doc: "create the brick directory (and its missing parents) when xstack run or mount starts and it is missing; the file commands (ls, put, check, ...) never create one, so a mistyped path is an error there"},
	{Name: "reserve", Kind: xlator.KindSize, Default: "0",
		Doc: "free space kept back on the brick's file system: writes and creates that would eat into it fail with ENOSPC, and statfs reports the space without it (GlusterFS's storage.reserve)"},
	{Name: "fsync", Kind: xlator.KindEnum, Default: "normal", Enum: []string{"normal", "data", "none"},
		Doc: "what fsync does: normal = fsync, data = fdatasync, none = nothing (benchmarks only: data acknowledged as durable can be lost in a crash)"},
	{Name: "data-path", Kind: xlator.KindEnum, Default: "bio", Enum: []string{"bio", "direct"},
		Doc: "how reads and writes reach the disk: bio = bios from the brick's bio set submitted to a runtime/bio device per open file, issued on the fop's goroutine (statedump section bio.<volume>: the bio set, the brick totals and each open file's device); direct = plain pread/pwritev, without bios"},
	{Name: "read-ahead", Kind: xlator.KindSize, Default: "0", Max: 256 << 20,
		Doc: "bytes posix reads ahead of a sequential reader of an open file (data-path = bio, files not opened O_DIRECT): from the second readv in a row that continues the last, it submits asynchronous read bios for the next window into pooled iobufs and serves later readvs from them without a copy; a write, truncate, fallocate, discard or zerofill of the file through posix drops them; 0 = off (the default: cold-cache sequential reads measured no faster with it on this project's VM, see bench/README.md)"},
	{Name: "read-ahead-total", Kind: xlator.KindSize, Default: "64MiB",
		Doc: "the most memory read-ahead may hold across the brick's open files (buffers in flight or not yet read); past it files are read without read-ahead until buffers come back"},
	{Name: "health-check-interval", Kind: xlator.KindDuration, Default: "30s",
		Doc: "how often to stat and write a hidden health file in the brick; on failure the brick reports child-down and fails fops with EIO until a check succeeds again; 0 disables the check"},
}

// Type is the registry entry of the posix translator.
var Type = xlator.Type{
	Name:        TypeName,
	Doc:         "stores files in a brick directory on a local file system (the bottom of a stack)",
	Options:     Schema,
	MinChildren: 0,
	MaxChildren: 0,
	New:         func() xlator.Xlator { return &Posix{} },
}

// Register adds the posix type to r.
func Register(r *xlator.Registry) { r.MustRegister(Type) }
