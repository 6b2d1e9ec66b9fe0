package api

import (
	"io/fs"
)

// FS returns a read-only io/fs view of the volume, so fs.WalkDir,
// fs.ReadFile and fs.Glob work on it. Names follow io/fs rules: unrooted,
// slash-separated, "." for the root.
func (v *Volume) FS() fs.FS { return volFS{v} }

type volFS struct{ v *Volume }

var (
	_ fs.StatFS    = volFS{}
	_ fs.ReadDirFS = volFS{}
)

func (f volFS) check(op, name string) error {
	if !fs.ValidPath(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

func (f volFS) Open(name string) (fs.File, error) {
	if err := f.check("open", name); err != nil {
		return nil, err
	}
	return f.v.Open(name)
}

func (f volFS) Stat(name string) (fs.FileInfo, error) {
	if err := f.check("stat", name); err != nil {
		return nil, err
	}
	return f.v.Stat(name)
}

func (f volFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.check("readdir", name); err != nil {
		return nil, err
	}
	ents, err := f.v.ReadDir(name)
	if err != nil {
		return nil, err
	}
	sortEntries(ents)
	return ents, nil
}
