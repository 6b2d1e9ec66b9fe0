// Command loopback mounts a brick directory with go-fuse's loopback file
// system: the baseline xstack's benchmarks (bench/fio.sh) compare against.
//
//	loopback [flags] BRICK MOUNTPOINT
//
// It mounts with the options xstack's FUSE front end uses (1 MiB requests,
// one-second entry and attribute timeouts, no negative caching,
// default_permissions, 64 background requests) and runs until SIGINT or
// SIGTERM, then unmounts.
//
// Kernel passthrough is off unless -passthrough is given. Since Linux 6.9 a root daemon can hand the
// kernel a backing file at open (FOPEN_PASSTHROUGH) and go-fuse does so for
// every LoopbackFile; reads and writes then go from the kernel straight to
// the brick and never reach the daemon. A translator stack has to see the
// data, so a baseline with passthrough would measure the kernel, not
// FUSE. go-fuse has no option to turn it off; it asks the file handle
// (fs.FilePassthroughFder), so every file handle here is wrapped in one
// that declines. The READ and WRITE requests the daemon served are
// printed on exit, which shows the data did go through it. With
// -passthrough the file handles are go-fuse's own, which pass through:
// the ceiling xstack's passthrough mounts are measured against.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	xfuse "github.com/xstack/xstack/mount/fuse"
)

// maxBackground matches mount/fuse's: how many asynchronous requests
// (readahead, async reads) the kernel keeps in flight.
const maxBackground = 64

// counters are the data requests served, to show on exit that READ and
// WRITE reached the daemon rather than being passed through.
type counters struct {
	reads, writes           atomic.Int64
	opens, passthroughAsked atomic.Int64
}

func main() {
	log.SetFlags(log.Lmicroseconds)
	debug := flag.Bool("debug", false, "log every FUSE request and reply (go-fuse debug output)")
	allowOther := flag.Bool("allow-other", false, "let other users use the mount (allow_other)")
	timeout := flag.Duration("timeout", time.Second, "entry and attribute timeout")
	pass := flag.Bool("passthrough", false, "let go-fuse hand the kernel each file's backing file (kernel passthrough)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: loopback [flags] BRICK MOUNTPOINT\n\nMounts BRICK at MOUNTPOINT through go-fuse's loopback (passthrough off\nunless -passthrough) until SIGINT or SIGTERM.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	brick, err := filepath.Abs(flag.Arg(0))
	if err != nil {
		log.Fatalf("loopback: brick %s: %v", flag.Arg(0), err)
	}
	mountPoint := flag.Arg(1)

	// The same spare Ps as xstack's daemon: the reason (blocked readers)
	// is go-fuse's, not xstack's.
	xfuse.SpareProcs()
	var c counters
	root, err := newRoot(brick, &c, *pass)
	if err != nil {
		log.Fatalf("loopback: brick %s: %v", brick, err)
	}
	to := *timeout
	var negative time.Duration // xstack caches no negative entries either
	opts := &fs.Options{
		EntryTimeout:    &to,
		AttrTimeout:     &to,
		NegativeTimeout: &negative,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			MaxWrite:      1 << 20,
			MaxBackground: maxBackground,
			AllowOther:    *allowOther,
			FsName:        brick,
			Name:          "loopback",
			Debug:         *debug,
			Options:       []string{"default_permissions"},
		},
	}
	// As xstack does: root mounts with mount(2), anyone else through
	// fusermount.
	if os.Geteuid() == 0 {
		opts.DirectMountStrict = true
	} else {
		opts.DirectMount = true
	}
	srv, err := fs.Mount(mountPoint, root, opts)
	if err != nil {
		log.Fatalf("loopback: mount %s: %v", mountPoint, err)
	}
	// xstack's default readahead too: a kernel setting any daemon may make.
	if err := xfuse.SetReadAhead(mountPoint, xfuse.DefaultMaxWrite); err != nil {
		log.Printf("loopback: cannot set the readahead: %v", err)
	}
	log.Printf("loopback: mounted %s at %s (pid %d)", brick, mountPoint, os.Getpid())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for range sigs {
			// Unmount fails while the mount is busy; the next signal
			// tries again.
			if err := srv.Unmount(); err != nil {
				log.Printf("loopback: unmount %s: %v", mountPoint, err)
			}
		}
	}()
	srv.Wait()
	log.Printf("loopback: unmounted %s; served opens=%d READ=%d WRITE=%d passthrough-declined=%d",
		mountPoint, c.opens.Load(), c.reads.Load(), c.writes.Load(), c.passthroughAsked.Load())
}

// newRoot returns the loopback root of brick, wrapped so that every node
// and file handle below it goes through node and file.
func newRoot(brick string, c *counters, pass bool) (fs.InodeEmbedder, error) {
	r, err := fs.NewLoopbackRoot(brick)
	if err != nil {
		return nil, err
	}
	ln, ok := r.(*fs.LoopbackNode)
	if !ok {
		return nil, fmt.Errorf("go-fuse returned a %T root, want *fs.LoopbackNode", r)
	}
	if pass {
		return ln, nil
	}
	return &node{LoopbackNode: ln, c: c}, nil
}

// node is a LoopbackNode whose opened and created files are wrapped in
// file, so that none of them is passed through to the kernel.
type node struct {
	*fs.LoopbackNode
	c *counters
}

var (
	_ fs.NodeWrapChilder = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
)

// WrapChild wraps every node go-fuse creates below the root.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: ln, c: n.c}
	}
	return ops
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	return n.wrap(fh), fl, errno
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	return ch, n.wrap(fh), fl, errno
}

func (n *node) wrap(fh fs.FileHandle) fs.FileHandle {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return fh
	}
	n.c.opens.Add(1)
	return &file{LoopbackFile: lf, c: n.c}
}

// file is a LoopbackFile that declines passthrough and counts the data
// requests it serves. Everything else (flush, fsync, setattr, allocate,
// lseek, locks) is the LoopbackFile's.
type file struct {
	*fs.LoopbackFile
	c *counters
}

var (
	_ fs.FilePassthroughFder = (*file)(nil)
	_ fs.FileReader          = (*file)(nil)
	_ fs.FileWriter          = (*file)(nil)
)

// PassthroughFd declines: go-fuse then serves READ and WRITE itself.
func (f *file) PassthroughFd() (int, bool) {
	f.c.passthroughAsked.Add(1)
	return -1, false
}

func (f *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.c.reads.Add(1)
	return f.LoopbackFile.Read(ctx, buf, off)
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	f.c.writes.Add(1)
	return f.LoopbackFile.Write(ctx, data, off)
}
