package posix

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// The files of the brick's private directory that make it one stack's
// brick of one volume.
const (
	// lockFile is flocked by the stack that owns the brick, and holds its
	// owner record (ownerRecord).
	lockFile = "lock"
	// idFile holds the brick's identity (xlator.BrickID) as JSON.
	idFile = "brick.json"
)

// ErrBrickBusy is wrapped by the BusyError a brick owned by another stack
// gives at Init.
var ErrBrickBusy = errors.New("brick is in use")

// BusyError says which process owns a brick that a stack tried to open.
// Pid is 0 when the owners are read-only commands (they hold the lock
// shared and record nothing), -1 when the owner has not written its
// record yet.
type BusyError struct {
	Dir     string
	Pid     int
	Command string    // the owner's command line
	Since   time.Time // when the owner took the brick
}

func (e *BusyError) Error() string {
	switch e.Pid {
	case 0:
		return fmt.Sprintf("brick directory %s is in use by a read-only xstack command (xstack check); try again when it has finished", e.Dir)
	case -1:
		return fmt.Sprintf("brick directory %s is in use by another xstack process that is starting (its record is not written yet); try again in a moment", e.Dir)
	}
	s := fmt.Sprintf("brick directory %s is in use by xstack pid %d", e.Dir, e.Pid)
	if e.Command != "" {
		s += " (" + e.Command + ")"
	}
	if !e.Since.IsZero() {
		s += " since " + e.Since.Format(time.DateTime)
	}
	return s + fmt.Sprintf("; two stacks on one brick would corrupt it: use the running one (`xstack dump %d` shows it), or stop it first", e.Pid)
}

func (e *BusyError) Unwrap() error { return ErrBrickBusy }

// ownerRecord is what the owner of a brick writes in its lock file.
type ownerRecord struct {
	Pid     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// privateDir returns an O_PATH handle on the brick's private directory,
// creating it unless the brick is read-only (ENOENT then).
func (p *Posix) privateDir() (int, error) {
	if !p.readOnly {
		if err := unix.Mkdirat(p.root.fd, internalDir, 0o700); err != nil && err != syscall.EEXIST {
			return -1, fmt.Errorf("create %s: %w (%s)", internalDir, err, brickCause(err))
		}
	}
	return openBeneath(p.root.fd, internalDir, unix.O_PATH|unix.O_DIRECTORY, 0)
}

// lock makes this stack the brick's only owner: an exclusive flock on the
// lock file, held until Fini (the kernel drops it when the process dies,
// so a dead owner never blocks a start), with the owner record written in
// it. A read-only stack takes the lock shared and writes nothing, so it
// runs beside other read-only stacks but never beside an owner.
func (p *Posix) lock() error {
	dfd, err := p.privateDir()
	if err == syscall.ENOENT && p.readOnly {
		return nil // never started: no owner to keep out
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	flags, how := unix.O_RDWR|unix.O_CREAT, unix.LOCK_EX
	if p.readOnly {
		flags, how = unix.O_RDONLY, unix.LOCK_SH
	}
	fd, err := openBeneath(dfd, lockFile, flags, 0o600)
	if err == syscall.ENOENT && p.readOnly {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s/%s: %w (%s)", internalDir, lockFile, err, brickCause(err))
	}
	if err := p.take(fd, how); err != nil {
		_ = unix.Close(fd)
		return err
	}
	if !p.readOnly {
		if err := writeOwner(fd); err != nil {
			_ = unix.Close(fd)
			return fmt.Errorf("write %s/%s: %w", internalDir, lockFile, err)
		}
	}
	p.lockFd = fd
	return nil
}

// take flocks fd (how: LOCK_EX, or LOCK_SH for a read-only stack) without
// waiting. When another process holds the lock, the error is a BusyError
// naming it.
func (p *Posix) take(fd, how int) error {
	for try := 0; ; try++ {
		err := flock(fd, how|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != syscall.EWOULDBLOCK {
			return fmt.Errorf("lock %s/%s: %w", internalDir, lockFile, err)
		}
		if how == unix.LOCK_SH || flock(fd, unix.LOCK_SH|unix.LOCK_NB) != nil {
			return p.owner(fd) // an exclusive owner
		}
		// Only shared holders (read-only commands), or the owner left
		// between the two calls: look once more.
		_ = flock(fd, unix.LOCK_UN)
		if try > 0 {
			return &BusyError{Dir: p.dir}
		}
	}
}

// owner describes the exclusive owner of the lock from its record.
func (p *Posix) owner(fd int) error {
	e := &BusyError{Dir: p.dir, Pid: -1}
	var rec ownerRecord
	if b, err := io.ReadAll(io.NewSectionReader(fdReader(fd), 0, 1<<16)); err == nil && json.Unmarshal(b, &rec) == nil &&
		rec.Pid > 0 && (unix.Kill(rec.Pid, 0) == nil || unix.Kill(rec.Pid, 0) == syscall.EPERM) {
		e.Pid, e.Command, e.Since = rec.Pid, rec.Command, rec.Since
	}
	return e
}

func flock(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// fdReader reads an fd with pread, for io.SectionReader.
type fdReader int

func (f fdReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := unix.Pread(int(f), b, off)
	if err == nil && n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

func writeOwner(fd int) error {
	b, err := json.Marshal(ownerRecord{Pid: os.Getpid(), Command: strings.Join(os.Args, " "), Since: time.Now().Round(time.Second)})
	if err != nil {
		return err
	}
	if err := unix.Ftruncate(fd, 0); err != nil {
		return err
	}
	b = append(b, '\n')
	n, err := unix.Pwrite(fd, b, 0)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	return err
}

// unlock gives the brick up (Fini).
func (p *Posix) unlock() {
	if p.lockFd >= 0 {
		if !p.readOnly {
			_ = unix.Ftruncate(p.lockFd, 0) // no owner any more
		}
		_ = unix.Close(p.lockFd)
		p.lockFd = -1
	}
}

var _ xlator.Brick = (*Posix)(nil)

// BrickDir returns the brick directory.
func (p *Posix) BrickDir() string { return p.dir }

// BrickID reads the identity stored in the brick's private directory, and
// whether the brick holds any file besides that directory.
func (p *Posix) BrickID() (id xlator.BrickID, ok, empty bool, err error) {
	if empty, err = p.emptyBrick(); err != nil {
		return id, false, false, err
	}
	dfd, err := openBeneath(p.root.fd, internalDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == syscall.ENOENT {
		return id, false, empty, nil
	}
	if err != nil {
		return id, false, empty, err
	}
	defer unix.Close(dfd)
	fd, err := openBeneath(dfd, idFile, unix.O_RDONLY, 0)
	if err == syscall.ENOENT {
		return id, false, empty, nil
	}
	if err != nil {
		return id, false, empty, err
	}
	defer unix.Close(fd)
	b, err := io.ReadAll(io.NewSectionReader(fdReader(fd), 0, 1<<16))
	if err != nil {
		return id, false, empty, err
	}
	if err := json.Unmarshal(b, &id); err != nil || id.VolumeID == "" || id.Brick == "" {
		return id, false, empty, fmt.Errorf("%s/%s/%s is not a brick identity (%q): repair or remove it", p.dir, internalDir, idFile, strings.TrimSpace(string(b)))
	}
	return id, true, empty, nil
}

// emptyBrick reports whether the brick root holds nothing but the private
// directory.
func (p *Posix) emptyBrick() (bool, error) {
	fd, err := unix.Openat(p.root.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(fd), p.dir)
	defer f.Close()
	for {
		names, err := f.Readdirnames(16)
		for _, n := range names {
			if n != internalDir {
				return false, nil
			}
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// SetBrickID stores id in the brick's private directory, durably: a new
// file written and synced, then renamed over the old one.
func (p *Posix) SetBrickID(id xlator.BrickID) error {
	if p.readOnly {
		return syscall.EROFS
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dfd, err := p.privateDir()
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	// O_PATH handles cannot be written through: reopen the directory.
	dir, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	tmp := idFile + ".tmp." + strconv.Itoa(os.Getpid())
	fd, err := openBeneath(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := unix.Write(fd, b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dir, tmp, dir, idFile)
	}
	if err == nil {
		err = unix.Fsync(dir)
	}
	if err != nil {
		_ = unix.Unlinkat(dir, tmp, 0)
	}
	return err
}

// writable fails fops that would change the brick: EROFS on a read-only
// stack, EIO while the health check reports the brick down.
func (p *Posix) writable() error {
	if p.readOnly {
		return syscall.EROFS
	}
	return p.up()
}

// brickCause says what an error setting up a brick means for the user: a
// read-only file system, missing permissions and missing xattr support
// each have their own fix, and blaming one for another sends them looking
// in the wrong place.
func brickCause(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return "the brick's file system is mounted read-only: a brick must be writable; remount it read-write"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Sprintf("permission denied to xstack (uid %d) in the brick directory: run it as the brick's owner or as root, or give that user the directory", os.Geteuid())
	case errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EOPNOTSUPP):
		return "the brick's file system must support extended attributes"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "the brick's file system is full"
	}
	return "the brick directory cannot be set up"
}
