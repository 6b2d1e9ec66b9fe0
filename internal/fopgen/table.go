package fopgen

// Fop describes one file operation of xlator.Fops: its signature, its
// protocol messages and what the generated code needs to know about it.
type Fop struct {
	// Name is the Go method name in xlator.Fops ("Lookup"); the constant
	// is "Fop"+Name and the Xlator service's method has this name too.
	Name string
	// Gluster is the fop's name as GlusterFS's io-stats prints it
	// ("READDIRP"): Fop.String and statedumps.
	Gluster string
	// Args are the arguments after c *xlator.Call, with types spelled as
	// inside package xlator ("*Loc", "uint32", "*iobuf.Iobref").
	Args []Arg
	// Result is the result before the error, "" for an error only. Its
	// Name is the field of the reply message that carries it.
	Result Arg
	// Data marks the fops that carry file data (readv, writev): they have
	// ring ops of their own, wrapper checks and byte statistics, all
	// hand-written.
	Data bool
	// Idempotent marks the fops that only read: a ring call whose reply
	// found no room may be made again by gRPC.
	Idempotent bool
	// Entry marks the fops whose Iatt result names the inode of their
	// loc: the plugin server links it into its inode table.
	Entry bool
	// Check is the wrapper's check of the fop's arguments before the
	// translator is called (contract.go), an expression of type error
	// over the arguments, "" for none.
	Check string
	// Req and Rsp are the Xlator service's request and reply messages.
	Req, Rsp string
	// Remote and Server say which plugin adapter is hand-written
	// (plugin/internal/rpc) because the fop does more than convert and
	// call: a handle to record, inodes to unlink, data on the rings.
	RemoteByHand, ServerByHand bool
	// BaseByHand and WrapByHand say Base's method and the graph
	// wrapper's are hand-written (xlator/copy.go): the fop's default is
	// not the first child's, or its wrapper does more than check, count
	// and call.
	BaseByHand, WrapByHand bool
	// Local marks a fop the plugin protocol does not carry yet: it needs
	// a ring method number, which takes a new protocol version. Remote
	// answers it ENOSYS (a front end then does without it, as with a
	// kernel file system that lacks it); the server has no handler.
	Local bool
}

// Arg is one argument or result.
type Arg struct {
	Name string // Go name; for a result, the reply's field
	Type string // Go type as spelled in package xlator
}

// Target returns the argument that names what the fop acts on: its first
// *Loc or *FD, or nil (Rename and Link: the first of two).
func (f *Fop) Target() *Arg {
	for i := range f.Args {
		if t := f.Args[i].Type; t == "*Loc" || t == "*FD" {
			return &f.Args[i]
		}
	}
	return nil
}

func loc(n string) Arg { return Arg{n, "*Loc"} }
func fd(n string) Arg  { return Arg{n, "*FD"} }
func u32(n string) Arg { return Arg{n, "uint32"} }
func i64(n string) Arg { return Arg{n, "int64"} }

// Table lists every fop once, in the order of the Fop constants (the
// statedump's order). A new fop goes at the end: its number is a
// statistics index, not a protocol number (those are in
// plugin/internal/transport/layout.go).
var Table = []Fop{
	{Name: "Lookup", Gluster: "LOOKUP", Args: []Arg{loc("loc")}, Result: Arg{"Iatt", "Iatt"},
		Idempotent: true, Entry: true, Req: "LocReq", Rsp: "IattRsp"},
	{Name: "Stat", Gluster: "STAT", Args: []Arg{loc("loc")}, Result: Arg{"Iatt", "Iatt"},
		Idempotent: true, Req: "LocReq", Rsp: "IattRsp"},
	{Name: "Fstat", Gluster: "FSTAT", Args: []Arg{fd("fd")}, Result: Arg{"Iatt", "Iatt"},
		Idempotent: true, Req: "FdReq", Rsp: "IattRsp"},
	{Name: "Setattr", Gluster: "SETATTR", Args: []Arg{loc("loc"), {"in", "*SetattrIn"}}, Result: Arg{"Iatt", "Iatt"},
		Req: "SetattrReq", Rsp: "IattRsp"},
	{Name: "Fsetattr", Gluster: "FSETATTR", Args: []Arg{fd("fd"), {"in", "*SetattrIn"}}, Result: Arg{"Iatt", "Iatt"},
		Req: "SetattrReq", Rsp: "IattRsp"},
	{Name: "Access", Gluster: "ACCESS", Args: []Arg{loc("loc"), u32("mask")},
		Idempotent: true, Req: "AccessReq", Rsp: "ErrRsp"},
	{Name: "Readlink", Gluster: "READLINK", Args: []Arg{loc("loc")}, Result: Arg{"Target", "string"},
		Idempotent: true, Req: "LocReq", Rsp: "ReadlinkRsp"},
	{Name: "Mknod", Gluster: "MKNOD", Args: []Arg{loc("loc"), u32("mode"), u32("rdev"), u32("umask")}, Result: Arg{"Iatt", "Iatt"},
		Entry: true, Req: "MknodReq", Rsp: "IattRsp"},
	{Name: "Mkdir", Gluster: "MKDIR", Args: []Arg{loc("loc"), u32("mode"), u32("umask")}, Result: Arg{"Iatt", "Iatt"},
		Entry: true, Req: "MkdirReq", Rsp: "IattRsp"},
	{Name: "Unlink", Gluster: "UNLINK", Args: []Arg{loc("loc")},
		Req: "LocReq", Rsp: "ErrRsp", ServerByHand: true},
	{Name: "Rmdir", Gluster: "RMDIR", Args: []Arg{loc("loc")},
		Req: "LocReq", Rsp: "ErrRsp", ServerByHand: true},
	{Name: "Symlink", Gluster: "SYMLINK", Args: []Arg{{"target", "string"}, loc("loc"), u32("umask")}, Result: Arg{"Iatt", "Iatt"},
		Entry: true, Req: "SymlinkReq", Rsp: "IattRsp"},
	{Name: "Rename", Gluster: "RENAME", Args: []Arg{loc("from"), loc("to"), u32("flags")},
		Req: "RenameReq", Rsp: "ErrRsp", ServerByHand: true},
	{Name: "Link", Gluster: "LINK", Args: []Arg{loc("from"), loc("to")}, Result: Arg{"Iatt", "Iatt"},
		Req: "LinkReq", Rsp: "IattRsp", ServerByHand: true},
	{Name: "Create", Gluster: "CREATE", Args: []Arg{loc("loc"), u32("flags"), u32("mode"), u32("umask"), fd("fd")}, Result: Arg{"Iatt", "Iatt"},
		Req: "CreateReq", Rsp: "OpenRsp", RemoteByHand: true, ServerByHand: true},
	{Name: "Open", Gluster: "OPEN", Args: []Arg{loc("loc"), u32("flags"), fd("fd")},
		Req: "OpenReq", Rsp: "OpenRsp", RemoteByHand: true, ServerByHand: true},
	{Name: "Readv", Gluster: "READ", Args: []Arg{fd("fd"), {"size", "int"}, i64("off")}, Result: Arg{"Iov", "*iobuf.Iobref"},
		Data: true, Idempotent: true, Req: "ReadvReq", Rsp: "ReadvRsp", RemoteByHand: true, ServerByHand: true},
	{Name: "Writev", Gluster: "WRITE", Args: []Arg{fd("fd"), {"data", "*iobuf.Iobref"}, i64("off")}, Result: Arg{"N", "int"},
		Data: true, Req: "WritevReq", Rsp: "WritevRsp", RemoteByHand: true, ServerByHand: true},
	{Name: "Flush", Gluster: "FLUSH", Args: []Arg{fd("fd")},
		Req: "FdReq", Rsp: "ErrRsp"},
	{Name: "Fsync", Gluster: "FSYNC", Args: []Arg{fd("fd"), {"datasync", "bool"}},
		Req: "FsyncReq", Rsp: "ErrRsp"},
	{Name: "Opendir", Gluster: "OPENDIR", Args: []Arg{loc("loc"), fd("fd")},
		Req: "OpenReq", Rsp: "OpenRsp", RemoteByHand: true, ServerByHand: true},
	{Name: "Readdir", Gluster: "READDIRP", Args: []Arg{fd("fd"), i64("off"), {"count", "int"}, {"plus", "bool"}}, Result: Arg{"Entries", "[]Dirent"},
		Idempotent: true, Req: "ReaddirReq", Rsp: "ReaddirRsp", ServerByHand: true},
	{Name: "Fsyncdir", Gluster: "FSYNCDIR", Args: []Arg{fd("fd"), {"datasync", "bool"}},
		Req: "FsyncReq", Rsp: "ErrRsp"},
	{Name: "Statfs", Gluster: "STATFS", Args: []Arg{loc("loc")}, Result: Arg{"St", "Statvfs"},
		Idempotent: true, Req: "LocReq", Rsp: "StatfsRsp"},
	{Name: "Setxattr", Gluster: "SETXATTR", Args: []Arg{loc("loc"), {"name", "string"}, {"value", "[]byte"}, u32("flags")},
		Req: "SetxattrReq", Rsp: "ErrRsp"},
	{Name: "Getxattr", Gluster: "GETXATTR", Args: []Arg{loc("loc"), {"name", "string"}}, Result: Arg{"Value", "[]byte"},
		Idempotent: true, Req: "XattrReq", Rsp: "XattrRsp"},
	{Name: "Listxattr", Gluster: "LISTXATTR", Args: []Arg{loc("loc")}, Result: Arg{"Names", "[]string"},
		Idempotent: true, Req: "LocReq", Rsp: "ListxattrRsp"},
	{Name: "Removexattr", Gluster: "REMOVEXATTR", Args: []Arg{loc("loc"), {"name", "string"}},
		Req: "XattrReq", Rsp: "ErrRsp"},
	{Name: "Fallocate", Gluster: "FALLOCATE", Args: []Arg{fd("fd"), u32("mode"), i64("off"), i64("length")},
		Check: "fallocRange(off, length)", Req: "RangeReq", Rsp: "ErrRsp"},
	{Name: "Discard", Gluster: "DISCARD", Args: []Arg{fd("fd"), i64("off"), i64("length")},
		Check: "fallocRange(off, length)", Req: "RangeReq", Rsp: "ErrRsp"},
	{Name: "Zerofill", Gluster: "ZEROFILL", Args: []Arg{fd("fd"), i64("off"), i64("length")},
		Check: "fallocRange(off, length)", Req: "RangeReq", Rsp: "ErrRsp"},
	{Name: "Lseek", Gluster: "SEEK", Args: []Arg{fd("fd"), i64("off"), u32("whence")}, Result: Arg{"Off", "int64"},
		Idempotent: true, Check: "seekArgs(off, whence)", Req: "SeekReq", Rsp: "SeekRsp"},
	{Name: "Lk", Gluster: "LK", Args: []Arg{fd("fd"), u32("cmd"), {"lock", "*Flock"}}, Result: Arg{"Lock", "Flock"},
		Check: "lockArgs(cmd, lock)", Req: "LkReq", Rsp: "LkRsp"},
	{Name: "Tmpfile", Gluster: "TMPFILE", Args: []Arg{loc("loc"), u32("flags"), u32("mode"), u32("umask"), fd("fd")}, Result: Arg{"Iatt", "Iatt"},
		Check: "tmpfileArgs(loc, flags)", Req: "CreateReq", Rsp: "OpenRsp", RemoteByHand: true, ServerByHand: true},
	{Name: "CopyFileRange", Gluster: "COPY_FILE_RANGE", Args: []Arg{fd("src"), i64("srcOff"), fd("dst"), i64("dstOff"), i64("length"), u32("flags")},
		Result: Arg{"N", "int64"}, BaseByHand: true, WrapByHand: true, Req: "CopyReq", Rsp: "CopyRsp"},
}
