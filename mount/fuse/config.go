package fuse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// DefaultMaxWrite is the largest READ and WRITE request when Config.MaxWrite
// is zero: 1 MiB, the kernel's limit (256 pages).
const DefaultMaxWrite = 1 << 20

// minMaxWrite is the smallest MaxWrite a mount takes; a smaller one is
// raised to it.
const minMaxWrite = 4096

// DefaultInodeLRULimit is DefaultConfig's InodeLRULimit, GlusterFS's fuse
// lru-limit default.
const DefaultInodeLRULimit = 65536

// Config configures a mount. Start from DefaultConfig: the zero value
// turns DefaultPermissions off and caches nothing.
type Config struct {
	// MountPoint is an existing, empty directory that is not a mount point.
	MountPoint string
	// EntryTimeout is how long the kernel may trust a name → inode answer.
	EntryTimeout time.Duration
	// AttrTimeout is how long the kernel may trust attributes; a non-zero
	// value saves a GETATTR before reads and writes.
	AttrTimeout time.Duration
	// NegativeTimeout is how long the kernel may remember that a name does
	// not exist; zero disables negative caching.
	NegativeTimeout time.Duration
	// MaxWrite is the largest READ and WRITE request in bytes; 0 means
	// DefaultMaxWrite, less than 4 KiB means 4 KiB. The kernel caps it at
	// 1 MiB.
	MaxWrite int
	// ReadAhead is the kernel's readahead on the mount in bytes (the
	// read_ahead_kb of the mount's backing device); 0 leaves the kernel's
	// default, 128 KiB. DefaultConfig sets DefaultMaxWrite: sequential
	// reads then arrive as 1 MiB READ requests instead of 128–256 KiB
	// ones, a quarter of the round trips (warm-brick seqread here: 1.6 →
	// 3.1 GB/s). Setting it needs root; otherwise Mount logs and goes on.
	ReadAhead int
	// DefaultPermissions makes the kernel check permissions against the
	// attributes (mount option default_permissions); DefaultConfig sets
	// it. Without it the graph sees every request and must check itself.
	DefaultPermissions bool
	// AllowOther lets users other than the one who mounted use the mount
	// (mount option allow_other); DefaultConfig sets it for root. Pair it
	// with DefaultPermissions, or the graph must check permissions itself:
	// without either, every user may do anything the mounter may. Anyone
	// but root needs user_allow_other in /etc/fuse.conf for it.
	AllowOther bool
	// InodeLRULimit bounds the node ids the kernel holds (and so the
	// graph's inode table): past it the bridge asks the kernel to drop
	// the dentries of the least recently looked-up files without an open
	// handle (notify.go), and the kernel then forgets them. The graph's
	// inode table then keeps at most as many inodes nobody uses (its LRU
	// limit), so once the kernel's FORGETs have come it holds at most
	// twice the limit (TestInodeLRULimit). 0 means no bound;
	// DefaultConfig sets DefaultInodeLRULimit.
	InodeLRULimit int
	// Passthrough lets the kernel read and write the backing files of a
	// graph whose translators all let file data pass (posix alone, with
	// no reserve), with no READ or WRITE reaching the daemon (kernel 6.9
	// or later, root; passthrough.go). Without it, or where the graph or
	// the kernel refuses, data takes the normal path.
	Passthrough bool
	// WritebackCache lets the kernel keep writes in its page cache and
	// send them later, merged into large WRITE requests (FUSE's
	// writeback cache): small sequential writes then cost a fraction of
	// the round trips. The kernel then owns the size and mtime of a
	// file it holds dirty pages of, so a change made below the bridge
	// (another front end, another client of a brick) to such a file may
	// be overwritten when its pages go out; the graph may see the writes
	// only at close(2) or fsync(2). Files are opened read-write in
	// the graph (the kernel reads to fill partly written pages) and
	// without O_APPEND (the kernel appends itself). It excludes
	// Passthrough.
	WritebackCache bool
	// FSName is the source shown by mount(8) and df; "" means "xstack".
	FSName string
	// Debug logs every FUSE request and reply (go-fuse's debug output).
	Debug bool
	// GoFuseLoop serves requests with go-fuse's reader loop even when
	// mounting as root, where xstack's own loop (conn.go) is the
	// default. Anyone else mounts through fusermount, which only
	// go-fuse's server does here. The environment variable
	// XSTACK_FUSE_LOOP=go-fuse sets it too (for comparing the two).
	GoFuseLoop bool
	// Transport is how requests travel between the kernel and the
	// bridge: TransportDevFuse ("dev-fuse", the default; "" means it) or
	// TransportIOUring ("io-uring": FUSE over io_uring, Linux 6.14+ with
	// the fuse module's enable_uring set, root and xstack's own loop;
	// uring.go). A mount that asks for io-uring where it cannot be had is
	// served through /dev/fuse, with one log line and Stats.TransportNote
	// saying why.
	Transport string
	// Logger receives the bridge's messages; nil means the graph's logger.
	Logger *zap.Logger
}

// DefaultConfig returns the configuration GlusterFS's mount defaults
// suggest: one-second entry and attribute timeouts, no negative caching,
// 1 MiB requests, default_permissions and, for root, allow_other (a
// GlusterFS mount is every user's, the kernel checking their
// permissions).
func DefaultConfig(mountPoint string) Config {
	return Config{
		AllowOther:         os.Geteuid() == 0,
		MountPoint:         mountPoint,
		EntryTimeout:       time.Second,
		AttrTimeout:        time.Second,
		MaxWrite:           DefaultMaxWrite,
		ReadAhead:          DefaultMaxWrite,
		DefaultPermissions: true,
		InodeLRULimit:      DefaultInodeLRULimit,
		FSName:             "xstack",
	}
}

func (c Config) withDefaults() Config {
	if c.MaxWrite <= 0 || c.MaxWrite > DefaultMaxWrite {
		c.MaxWrite = DefaultMaxWrite
	}
	// The kernel refuses a read buffer under 8 KiB (FUSE_MIN_READ_BUFFER):
	// a request buffer is MaxWrite and a page.
	c.MaxWrite = max(c.MaxWrite, minMaxWrite)
	if c.FSName == "" {
		c.FSName = "xstack"
	}
	if c.Transport == "" {
		c.Transport = TransportDevFuse
	}
	return c
}

// Available reports whether this process can mount with FUSE, and if not
// says why in words a user can act on, so that the CLI can point to its
// file commands instead. It wraps ErrNoDevice or ErrNoPermission.
func Available() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%w: the device does not exist (load the fuse kernel module, or start the container with --device /dev/fuse)", ErrNoDevice)
		case errors.Is(err, os.ErrPermission) && os.Geteuid() != 0:
			// An unprivileged user may still mount through fusermount,
			// which opens the device itself.
			if _, lerr := fusermount(); lerr == nil {
				return nil
			}
			return fmt.Errorf("%w: %v", ErrNoPermission, err)
		default:
			return fmt.Errorf("%w: %v", ErrNoDevice, err)
		}
	}
	f.Close()
	if os.Geteuid() == 0 {
		return nil
	}
	if _, err := fusermount(); err != nil {
		return fmt.Errorf("%w (install fuse3, or run as root)", ErrNoPermission)
	}
	return nil
}

func fusermount() (string, error) {
	for _, n := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// checkMountPoint refuses a mount point that is missing, not a directory,
// not empty or already mounted on, with an error that names it.
func checkMountPoint(mp string) (string, error) {
	if mp == "" {
		return "", errors.New("fuse: no mount point given")
	}
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", fmt.Errorf("fuse: mount point %q: %w", mp, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(abs, &st); err != nil {
		if err == syscall.ENOTCONN {
			return "", fmt.Errorf("%w: %s is a dead FUSE mount (transport endpoint is not connected); unmount it with umount %s", ErrMountPointBusy, abs, abs)
		}
		return "", fmt.Errorf("fuse: mount point %s: %w", abs, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return "", fmt.Errorf("fuse: mount point %s is not a directory", abs)
	}
	mounted, err := isMountPoint(abs, &st)
	if err != nil {
		return "", fmt.Errorf("fuse: mount point %s: %w", abs, err)
	}
	if mounted {
		return "", fmt.Errorf("%w: %s (unmount it first)", ErrMountPointBusy, abs)
	}
	d, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("fuse: mount point %s: %w", abs, err)
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("fuse: mount point %s: %w", abs, err)
	}
	if len(names) > 0 {
		return "", fmt.Errorf("%w: %s holds %q and more that the mount would hide; use an empty directory", ErrMountPointNotEmpty, abs, names[0])
	}
	return abs, nil
}

// isMountPoint reports whether dir (absolute, with stat st) has something
// mounted on it: a device change from its parent, or an entry in
// /proc/self/mountinfo (which also catches bind mounts of the same file
// system).
func isMountPoint(dir string, st *syscall.Stat_t) (bool, error) {
	if dir == "/" {
		return true, nil
	}
	var pst syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(dir), &pst); err == nil && pst.Dev != st.Dev {
		return true, nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, nil // no procfs: the device check is all we have
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ...
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) the kernel
// writes in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := 0
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + int(c-'0')
			}
			if ok {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
