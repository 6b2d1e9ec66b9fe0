package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"text/tabwriter"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator"
)

// cmdFiles runs the file commands (ls, stat, cat, rm, mkdir, put, get)
// through the Go client API: no FUSE needed.
func cmdFiles(args []string, stdout, stderr io.Writer) error {
	name := args[0]
	var c common
	fs := newFlags(name, stderr, &c)
	var recursive, parents, long *bool
	switch name {
	case "rm":
		recursive = fs.Bool("r", false, "remove directories and their contents")
	case "mkdir":
		parents = fs.Bool("p", false, "make parent directories as needed")
	case "ls":
		long = fs.Bool("l", false, "long listing")
	}
	c.logLevel = "warn"
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	min := 2
	if name == "put" || name == "get" {
		min = 3
	}
	if fs.NArg() < min || ((name == "put" || name == "get") && fs.NArg() != 3) {
		switch name {
		case "put":
			return &exitError{2, "usage: xstack put VOLFILE LOCALFILE PATH"}
		case "get":
			return &exitError{2, "usage: xstack get VOLFILE PATH LOCALFILE"}
		}
		return &exitError{2, fmt.Sprintf("usage: xstack %s [flags] VOLFILE PATH…", name)}
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	// A file command works on an existing volume: it never creates a
	// brick directory, so a mistyped path is an error, not an empty
	// listing.
	vol, err := api.Open(volfilePath(fs.Arg(0)), &api.Options{Vars: c.varsMap(), Logger: log, NoCreate: true, Adopt: c.adopt})
	if err != nil {
		return err
	}
	defer vol.Close()
	rest := fs.Args()[1:]
	switch name {
	case "ls":
		for _, p := range rest {
			if err := ls(vol, p, *long, stdout); err != nil {
				return err
			}
		}
	case "stat":
		for _, p := range rest {
			fi, err := vol.Stat(p)
			if err != nil {
				return err
			}
			printStat(stdout, p, fi)
		}
	case "cat":
		for _, p := range rest {
			f, err := vol.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(stdout, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	case "rm":
		for _, p := range rest {
			if *recursive {
				err = vol.RemoveAll(p)
			} else {
				err = vol.Remove(p)
			}
			if err != nil {
				return err
			}
		}
	case "mkdir":
		for _, p := range rest {
			if *parents {
				err = vol.MkdirAll(p, 0o755)
			} else {
				err = vol.Mkdir(p, 0o755)
			}
			if err != nil {
				return err
			}
		}
	case "put":
		return put(vol, rest[0], rest[1])
	case "get":
		return get(vol, rest[0], rest[1])
	}
	return nil
}

func ls(vol *api.Volume, p string, long bool, w io.Writer) error {
	fi, err := vol.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		printEntry(w, fi, long)
		return nil
	}
	ents, err := vol.ReadDir(p)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			return err
		}
		printEntry(tw, info, long)
	}
	return tw.Flush()
}

func printEntry(w io.Writer, fi fs.FileInfo, long bool) {
	if !long {
		fmt.Fprintln(w, fi.Name())
		return
	}
	ia := fi.Sys().(*xlator.Iatt)
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", fi.Mode(), ia.Nlink, ia.Uid, ia.Gid, fi.Size(),
		fi.ModTime().Format("2006-01-02 15:04"), fi.Name())
}

func printStat(w io.Writer, p string, fi fs.FileInfo) {
	ia := fi.Sys().(*xlator.Iatt)
	fmt.Fprintf(w, "  File: %s\n  Size: %d\tBlocks: %d\tIO Block: %d\n  Mode: %s (%04o)\tLinks: %d\tUid: %d\tGid: %d\n  Gfid: %s\tInode: %d\n  Modify: %s\n  Change: %s\n",
		p, fi.Size(), ia.Blocks, ia.Blksize, fi.Mode(), ia.Mode&0o7777, ia.Nlink, ia.Uid, ia.Gid,
		ia.Gfid, ia.Ino, ia.Mtime.Time().Format("2006-01-02 15:04:05.000000000 -0700"),
		ia.Ctime.Time().Format("2006-01-02 15:04:05.000000000 -0700"))
}

func put(vol *api.Volume, local, remote string) error {
	src, err := os.Open(local)
	if err != nil {
		return err
	}
	defer src.Close()
	if fi, err := vol.Stat(remote); err == nil && fi.IsDir() {
		remote = path.Join(remote, path.Base(local))
	}
	dst, err := vol.Create(remote)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func get(vol *api.Volume, remote, local string) error {
	src, err := vol.Open(remote)
	if err != nil {
		return err
	}
	defer src.Close()
	if fi, err := os.Stat(local); err == nil && fi.IsDir() {
		local = path.Join(local, path.Base(remote))
	}
	dst, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return errors.Join(err, os.Remove(local))
	}
	return nil
}
