package fuse

import "errors"

// ErrNoDevice means /dev/fuse is missing or cannot be opened: the kernel
// has no FUSE module loaded, or a container was started without the
// device. The CLI's file commands work without it.
var ErrNoDevice = errors.New("fuse: /dev/fuse is not available")

// ErrNoPermission means the process is not root and no fusermount helper
// is installed, so it cannot mount.
var ErrNoPermission = errors.New("fuse: not root and no fusermount or fusermount3 in PATH")

// ErrMountPointNotEmpty means the mount point holds files that the mount
// would hide. GlusterFS refuses such a mount point too.
var ErrMountPointNotEmpty = errors.New("fuse: mount point is not empty")

// ErrMountPointBusy means something is already mounted on the mount point
// (possibly a dead FUSE mount: unmount it with umount or fusermount -u).
var ErrMountPointBusy = errors.New("fuse: mount point is already a mount point")
