package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/xlator"
)

// Options tune Open; nil is fine.
type Options = stack.Options

// Volume is an open volfile: a running graph and the client that calls it.
// Its fops carry a context: context.Background, or the one a view made by
// WithContext was given.
type Volume struct {
	*volume
	ctx context.Context // never nil
}

// volume is what a Volume and its views (WithContext) share.
type volume struct {
	st    *stack.Stack
	g     *xlator.Graph
	creds xlator.Creds
	umask atomic.Uint32
}

// Open loads the volfile at path ("" for the embedded default), starts its
// graph and returns the volume. Volfile problems come back as a
// *volfile.Diagnostics error with file:line:col for each.
func Open(path string, opts *Options) (*Volume, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	st, err := stack.Open(path, o)
	if err != nil {
		return nil, err
	}
	return FromStack(st), nil
}

// FromStack returns a client over a running stack (the CLI's mount shares
// its stack this way). Closing the volume closes the stack.
func FromStack(st *stack.Stack) *Volume {
	v := &volume{st: st, g: st.Graph,
		creds: xlator.Creds{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Pid: uint32(os.Getpid())}}
	v.umask.Store(0o022)
	return &Volume{volume: v, ctx: context.Background()}
}

// WithContext returns a view of v whose fops carry ctx (which must not be
// nil), and so do the files opened through the view. A fop waiting for
// something that may never come (a plugin's reply, above all) gives up
// when ctx is cancelled or its deadline passes, and the method returns an
// *fs.PathError wrapping both ECANCELED or ETIMEDOUT and ctx.Err(), so
// errors.Is(err, context.DeadlineExceeded) holds; fops that need no wait
// run to completion as they would without a context. The view shares
// everything else with v: the stack, the credentials, the umask; closing
// either closes the stack.
func (v *Volume) WithContext(ctx context.Context) *Volume {
	if ctx == nil {
		panic("api: WithContext with a nil context")
	}
	return &Volume{volume: v.volume, ctx: ctx}
}

// Context returns the context v's fops carry: context.Background for a
// Volume from Open or FromStack.
func (v *Volume) Context() context.Context { return v.ctx }

// Close stops the graph and releases the runtime. Files still open are
// released first by the graph's teardown.
func (v *Volume) Close() error { return v.st.Close() }

// Stack returns the running stack (for statedumps and tests).
func (v *Volume) Stack() *stack.Stack { return v.st }

// SetUmask sets the umask applied to created files (022 by default).
// It applies to v and every view of it.
func (v *Volume) SetUmask(u uint32) { v.umask.Store(u & 0o777) }

func (v *Volume) begin(f xlator.Fop) *xlator.Call {
	return v.g.Calls().Begin(v.ctx, f, v.creds, 0)
}

// split cleans p and returns its components; the root has none.
func split(p string) ([]string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return nil, syscall.EINVAL
	}
	c := path.Clean("/" + p)
	if c == "/" {
		return nil, nil
	}
	parts := strings.Split(c[1:], "/")
	for _, s := range parts {
		if len(s) > 255 {
			return nil, syscall.ENAMETOOLONG
		}
	}
	return parts, nil
}

// pathErr wraps err as *fs.PathError, keeping a syscall.Errno inside. A
// fop that gave up because v's context ended (ECANCELED, ETIMEDOUT, or
// EINTR from a lock wait) wraps the context's error too.
func (v *Volume) pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	var e syscall.Errno
	if cerr := v.ctx.Err(); cerr != nil && errors.As(err, &e) && (e == syscall.ECANCELED || e == syscall.ETIMEDOUT || e == syscall.EINTR) {
		err = fmt.Errorf("%w: %w", err, cerr)
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// resolve walks the components from the root with Lookup fops and returns
// the inode with a reference, and its attributes.
func (v *Volume) resolve(c *xlator.Call, parts []string) (*xlator.Inode, xlator.Iatt, error) {
	tab := v.g.Inodes()
	cur := tab.Root().Ref()
	ia, err := v.g.Top().Lookup(c, &xlator.Loc{Inode: cur})
	if err != nil {
		cur.Unref()
		return nil, ia, err
	}
	for _, name := range parts {
		ia, err = v.g.Top().Lookup(c, &xlator.Loc{Parent: cur, Name: name})
		if err != nil {
			cur.Unref()
			return nil, ia, err
		}
		next := tab.Link(nil, cur, name, &ia)
		cur.Unref()
		cur = next
	}
	return cur, ia, nil
}

// resolveParent resolves everything but the last component and returns the
// parent inode (referenced) and the last name.
func (v *Volume) resolveParent(c *xlator.Call, name string) (*xlator.Inode, string, error) {
	parts, err := split(name)
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		return nil, "", syscall.EINVAL // the root has no parent entry
	}
	parent, ia, err := v.resolve(c, parts[:len(parts)-1])
	if err != nil {
		return nil, "", err
	}
	if !ia.IsDir() {
		parent.Unref()
		return nil, "", syscall.ENOTDIR
	}
	return parent, parts[len(parts)-1], nil
}

// Stat returns the attributes of name (not following a final symlink).
func (v *Volume) Stat(name string) (fs.FileInfo, error) {
	c := v.begin(xlator.FopLookup)
	defer c.Done()
	parts, err := split(name)
	if err != nil {
		return nil, v.pathErr("stat", name, err)
	}
	in, ia, err := v.resolve(c, parts)
	if err != nil {
		return nil, v.pathErr("stat", name, err)
	}
	in.Unref()
	return newInfo(baseName(parts), ia), nil
}

func baseName(parts []string) string {
	if len(parts) == 0 {
		return "/"
	}
	return parts[len(parts)-1]
}

// Mkdir creates a directory.
func (v *Volume) Mkdir(name string, perm fs.FileMode) error {
	c := v.begin(xlator.FopMkdir)
	defer c.Done()
	parent, base, err := v.resolveParent(c, name)
	if err != nil {
		return v.pathErr("mkdir", name, err)
	}
	defer parent.Unref()
	ia, err := v.g.Top().Mkdir(c, &xlator.Loc{Parent: parent, Name: base}, uint32(perm.Perm())|modeExtra(perm), v.umask.Load())
	if err != nil {
		return v.pathErr("mkdir", name, err)
	}
	v.g.Inodes().Link(nil, parent, base, &ia).Unref()
	return nil
}

// MkdirAll creates name and any missing parents.
func (v *Volume) MkdirAll(name string, perm fs.FileMode) error {
	parts, err := split(name)
	if err != nil {
		return v.pathErr("mkdir", name, err)
	}
	for i := range parts {
		p := "/" + strings.Join(parts[:i+1], "/")
		if err := v.Mkdir(p, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

func modeExtra(m fs.FileMode) uint32 {
	var x uint32
	if m&fs.ModeSetuid != 0 {
		x |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		x |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		x |= syscall.S_ISVTX
	}
	return x
}

// Remove removes a file or an empty directory.
func (v *Volume) Remove(name string) error {
	c := v.begin(xlator.FopUnlink)
	defer c.Done()
	parent, base, err := v.resolveParent(c, name)
	if err != nil {
		return v.pathErr("remove", name, err)
	}
	defer parent.Unref()
	ia, err := v.g.Top().Lookup(c, &xlator.Loc{Parent: parent, Name: base})
	if err != nil {
		return v.pathErr("remove", name, err)
	}
	loc := &xlator.Loc{Parent: parent, Name: base}
	if ia.IsDir() {
		err = v.g.Top().Rmdir(c, loc)
	} else {
		err = v.g.Top().Unlink(c, loc)
	}
	if err != nil {
		return v.pathErr("remove", name, err)
	}
	v.g.Inodes().Unlink(parent, base)
	return nil
}

// RemoveAll removes name and everything below it; a missing name is fine.
func (v *Volume) RemoveAll(name string) error {
	fi, err := v.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		ents, err := v.ReadDir(name)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := v.RemoveAll(path.Join("/", name, e.Name())); err != nil {
				return err
			}
		}
	}
	return v.Remove(name)
}

// Rename moves oldname to newname, replacing a file there.
func (v *Volume) Rename(oldname, newname string) error {
	c := v.begin(xlator.FopRename)
	defer c.Done()
	op, ob, err := v.resolveParent(c, oldname)
	if err != nil {
		return v.pathErr("rename", oldname, err)
	}
	defer op.Unref()
	np, nb, err := v.resolveParent(c, newname)
	if err != nil {
		return v.pathErr("rename", newname, err)
	}
	defer np.Unref()
	if err := v.g.Top().Rename(c, &xlator.Loc{Parent: op, Name: ob}, &xlator.Loc{Parent: np, Name: nb}, 0); err != nil {
		return v.pathErr("rename", oldname, err)
	}
	v.g.Inodes().Rename(op, ob, np, nb)
	return nil
}

// Symlink creates newname as a symlink to oldname.
func (v *Volume) Symlink(oldname, newname string) error {
	c := v.begin(xlator.FopSymlink)
	defer c.Done()
	parent, base, err := v.resolveParent(c, newname)
	if err != nil {
		return v.pathErr("symlink", newname, err)
	}
	defer parent.Unref()
	ia, err := v.g.Top().Symlink(c, oldname, &xlator.Loc{Parent: parent, Name: base}, v.umask.Load())
	if err != nil {
		return v.pathErr("symlink", newname, err)
	}
	v.g.Inodes().Link(nil, parent, base, &ia).Unref()
	return nil
}

// Readlink returns the target of a symlink.
func (v *Volume) Readlink(name string) (string, error) {
	c := v.begin(xlator.FopReadlink)
	defer c.Done()
	parts, err := split(name)
	if err != nil {
		return "", v.pathErr("readlink", name, err)
	}
	in, _, err := v.resolve(c, parts)
	if err != nil {
		return "", v.pathErr("readlink", name, err)
	}
	defer in.Unref()
	t, err := v.g.Top().Readlink(c, &xlator.Loc{Inode: in})
	return t, v.pathErr("readlink", name, err)
}

// Chmod changes the permission bits of name.
func (v *Volume) Chmod(name string, mode fs.FileMode) error {
	return v.setattr("chmod", name, &xlator.SetattrIn{Valid: xlator.SetMode, Mode: uint32(mode.Perm()) | modeExtra(mode)})
}

// Truncate changes the size of a file.
func (v *Volume) Truncate(name string, size int64) error {
	return v.setattr("truncate", name, &xlator.SetattrIn{Valid: xlator.SetSize, Size: size})
}

// Chtimes changes the access and modification times of name.
func (v *Volume) Chtimes(name string, atime, mtime time.Time) error {
	return v.setattr("chtimes", name, &xlator.SetattrIn{Valid: xlator.SetAtime | xlator.SetMtime,
		Atime: xlator.TimespecOf(atime), Mtime: xlator.TimespecOf(mtime)})
}

func (v *Volume) setattr(op, name string, in *xlator.SetattrIn) error {
	c := v.begin(xlator.FopSetattr)
	defer c.Done()
	parts, err := split(name)
	if err != nil {
		return v.pathErr(op, name, err)
	}
	ino, _, err := v.resolve(c, parts)
	if err != nil {
		return v.pathErr(op, name, err)
	}
	defer ino.Unref()
	_, err = v.g.Top().Setattr(c, &xlator.Loc{Inode: ino}, in)
	return v.pathErr(op, name, err)
}

// Statfs returns the volume's file system statistics.
func (v *Volume) Statfs() (xlator.Statvfs, error) {
	c := v.begin(xlator.FopStatfs)
	defer c.Done()
	root := v.g.Inodes().Root()
	return v.g.Top().Statfs(c, &xlator.Loc{Inode: root})
}
