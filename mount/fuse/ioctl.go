package fuse

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Ioctl answers every ioctl ENOTTY at once, without a fop: the graph has
// no ioctl, and ENOTTY is what a file system that knows none answers.
// chattr and lsattr (FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, which the kernel
// sends as ioctls) thus report that the file system does not support
// them; the brick's own flags are not offered
// (setting immutable or append-only on a brick file would change what
// the translators above it may do to it behind their backs). Counted as
// IOCTL, every one an error.
func (b *bridge) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	return b.refuse(opIoctl, fuse.Status(syscall.ENOTTY))
}
