// Package api is the embeddable Go client of xstack, in the role libgfapi
// plays for GlusterFS: open a volfile, then create, open, read, write, stat,
// list, rename and remove files through the translator graph, without FUSE.
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
// A Volume and its Files are safe for concurrent use, except that a File's
// offset (Read, Write, Seek) is shared state: use ReadAt and WriteAt from
// several goroutines.
package api
