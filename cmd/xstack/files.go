package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator"
)

// fileCmds returns the file commands (ls, stat, cat, rm, mkdir, put,
// get): they open the volume through the Go client API, no FUSE needed,
// and never create a brick directory, so a mistyped --data is an error
// naming the directory, not an empty listing.
func fileCmds(c *cli) []*cobra.Command {
	const note = `

The volume is opened in this process through the Go client API (no FUSE
needed) and holds its bricks' lock meanwhile: bricks a running stack owns
are refused, naming its pid and mount point. No brick directory is
created.`
	type spec struct {
		use, short, long, example string
		min, max                  int
		flag                      func(*pflag.FlagSet) *bool // its one flag, if any
		do                        func(vol *api.Volume, args []string, flag bool) error
	}
	each := func(f func(vol *api.Volume, p string, flag bool) error) func(*api.Volume, []string, bool) error {
		return func(vol *api.Volume, paths []string, flag bool) error {
			for _, p := range paths {
				if err := f(vol, p, flag); err != nil {
					return err
				}
			}
			return nil
		}
	}
	specs := []spec{
		{use: "ls [flags] VOLFILE PATH...", short: "List directories of a volume",
			long:    "List each PATH of the volume: a directory's entries, or a file itself. -l adds mode, links, owner, size and time.",
			example: "  xstack ls @default /\n  xstack ls --data /srv/xstack volfiles/stripe.hcl / -l",
			min:     2, max: -1,
			flag: func(fs *pflag.FlagSet) *bool { return fs.BoolP("long", "l", false, "long listing") },
			do:   each(func(vol *api.Volume, p string, long bool) error { return ls(vol, p, long, c.stdout) })},
		{use: "stat [flags] VOLFILE PATH...", short: "Show the attributes of files in a volume",
			long:    "Print size, blocks, mode, links, owner, gfid, inode number and times of each PATH of the volume.",
			example: "  xstack stat @default /notes.txt",
			min:     2, max: -1,
			do: each(func(vol *api.Volume, p string, _ bool) error {
				fi, err := vol.Stat(p)
				if err != nil {
					return err
				}
				printStat(c.stdout, p, fi)
				return nil
			})},
		{use: "cat [flags] VOLFILE PATH...", short: "Print files of a volume",
			long:    "Copy each PATH of the volume to stdout, in order.",
			example: "  xstack cat @default /notes.txt",
			min:     2, max: -1,
			do: each(func(vol *api.Volume, p string, _ bool) error {
				f, err := vol.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = io.Copy(c.stdout, f)
				return err
			})},
		{use: "rm [flags] VOLFILE PATH...", short: "Remove files from a volume",
			long:    "Remove each PATH of the volume: a file or an empty directory, or with -r a directory and everything in it.",
			example: "  xstack rm @default /old.txt\n  xstack rm -r @default /tmp",
			min:     2, max: -1,
			flag: func(fs *pflag.FlagSet) *bool {
				return fs.BoolP("recursive", "r", false, "remove directories and their contents")
			},
			do: each(func(vol *api.Volume, p string, recursive bool) error {
				if recursive {
					return vol.RemoveAll(p)
				}
				return vol.Remove(p)
			})},
		{use: "mkdir [flags] VOLFILE PATH...", short: "Make directories in a volume",
			long:    "Make each directory PATH in the volume (mode 0755); with -p, parents too, and no error if it exists.",
			example: "  xstack mkdir @default /photos\n  xstack mkdir -p @default /a/b/c",
			min:     2, max: -1,
			flag: func(fs *pflag.FlagSet) *bool {
				return fs.BoolP("parents", "p", false, "make parent directories as needed")
			},
			do: each(func(vol *api.Volume, p string, parents bool) error {
				if parents {
					return vol.MkdirAll(p, 0o755)
				}
				return vol.Mkdir(p, 0o755)
			})},
		{use: "put [flags] VOLFILE LOCALFILE PATH", short: "Copy a local file into a volume",
			long:    "Copy LOCALFILE into the volume as PATH, or into PATH if it is a directory.",
			example: "  xstack put @default ./report.pdf /docs/",
			min:     3, max: 3,
			do: func(vol *api.Volume, args []string, _ bool) error { return put(vol, args[0], args[1]) }},
		{use: "get [flags] VOLFILE PATH LOCALFILE", short: "Copy a file out of a volume",
			long:    "Copy PATH of the volume to LOCALFILE, or into LOCALFILE if it is a directory.",
			example: "  xstack get @default /docs/report.pdf .",
			min:     3, max: 3,
			do: func(vol *api.Volume, args []string, _ bool) error { return get(vol, args[0], args[1]) }},
	}
	var cmds []*cobra.Command
	for _, s := range specs {
		var co common
		var flag *bool
		cmd := &cobra.Command{
			Use:     s.use,
			Short:   s.short,
			Long:    s.long + note,
			Example: s.example,
			Args:    nargs(s.min, s.max),
			RunE: func(_ *cobra.Command, args []string) error {
				log, err := co.logger(c.stderr)
				if err != nil {
					return err
				}
				vol, err := api.Open(volfilePath(args[0]), &api.Options{Vars: co.varsMap(), Logger: log, NoCreate: true, Adopt: co.adopt})
				if err != nil {
					return err
				}
				defer vol.Close()
				return s.do(vol, args[1:], flag != nil && *flag)
			},
		}
		if s.flag != nil {
			flag = s.flag(cmd.Flags())
		}
		co.addFlags(cmd.Flags(), "warn")
		cmds = append(cmds, cmd)
	}
	return cmds
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

// put and get name the side of every error: the local file or the
// volume's, and whether reading or writing it failed.

func put(vol *api.Volume, local, remote string) error {
	src, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("local file: %w", err)
	}
	defer src.Close()
	if fi, err := vol.Stat(remote); err == nil && fi.IsDir() {
		remote = path.Join(remote, path.Base(local))
	}
	dst, err := vol.Create(remote)
	if err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	if err := copyLabeled(dst, src, "writing "+remote+" in the volume", "reading local file "+local); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("writing %s in the volume: %w", remote, err)
	}
	return nil
}

func get(vol *api.Volume, remote, local string) error {
	src, err := vol.Open(remote)
	if err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	defer src.Close()
	if fi, err := os.Stat(local); err == nil && fi.IsDir() {
		local = path.Join(local, path.Base(remote))
	}
	dst, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("local file: %w", err)
	}
	if err := copyLabeled(dst, src, "writing local file "+local, "reading "+remote+" from the volume"); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return errors.Join(fmt.Errorf("writing local file %s: %w", local, err), os.Remove(local))
	}
	return nil
}

// copyLabeled copies src to dst, prefixing an error with the side it
// came from.
func copyLabeled(dst io.Writer, src io.Reader, writing, reading string) error {
	_, err := io.Copy(labeledWriter{dst, writing}, labeledReader{src, reading})
	return err
}

type labeledReader struct {
	r    io.Reader
	what string
}

func (l labeledReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", l.what, err)
	}
	return n, err
}

type labeledWriter struct {
	w    io.Writer
	what string
}

func (l labeledWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = fmt.Errorf("%s: %w", l.what, err)
	}
	return n, err
}
