// Package api is the embeddable Go client of xstack, in the role libgfapi
// plays for GlusterFS: open a volfile, then create, open, read, write, stat,
// list, rename and remove files through the translator graph, without FUSE.
// Volume.Tmpfile makes an unnamed file (open(2) with O_TMPFILE) that
// File.Link names later. A FileInfo's Sys is the *xlator.Iatt, birth time
// (Btime, when Mask has xlator.StatxBtime) included.
//
//	vol, err := api.Open("volfiles/posix.hcl", nil)
//	if err != nil { … }
//	defer vol.Close()
//	f, err := vol.Create("/hello.txt")
//	f.Write([]byte("hello"))
//	f.Close()
//	fs.WalkDir(vol.FS(), ".", func(p string, d fs.DirEntry, err error) error { … })
//
// Paths are slash-separated and relative to the volume root ("/a/b" and
// "a/b" are the same file). Errors are *fs.PathError values wrapping a
// syscall.Errno, so errors.Is(err, fs.ErrNotExist) works.
//
// Fops carry a context: context.Background for a Volume, ctx for the view
// vol.WithContext(ctx) and the Files opened through it (f.WithContext(ctx)
// makes a view of an open File). A call waiting in the graph (for a
// plugin's reply, above all) gives up when ctx is cancelled or its
// deadline passes, with an error that errors.Is matches against both
// ECANCELED or ETIMEDOUT and ctx.Err(). A view is a *Volume like any other:
// vol.WithContext(ctx).FS() walks a tree under a deadline.
//
// Copies between two files of a volume stay in the stack: File.CopyFrom,
// and io.Copy from one File to another, use the CopyFileRange fop, as
// copy_file_range(2) does, so no byte is read into the program.
//
// A Volume and its Files are safe for concurrent use, except that a File's
// offset (Read, Write, Seek) is shared state: use ReadAt and WriteAt from
// several goroutines.
package api
