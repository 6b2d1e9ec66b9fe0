# The default xstack volfile: what `xstack run` loads when given none.
#
#   cache   (cache)   keeps recently read pages in memory
#     └── stripe (stripe)  splits each file into blocks spread over the bricks
#           ├── brick0-locks (locks)  fcntl and flock locks of the files
#           │     └── brick0 (posix)  ${var.data}/brick0
#           └── brick1-locks (locks)
#                 └── brick1 (posix)  ${var.data}/brick1
#
# Override the variables on the command line, e.g.
#   xstack run -var data=/srv/xstack -var mount=/mnt/xstack

variable "data" {
  default     = "./_xstack/data"
  description = "directory holding the brick directories"
}

variable "mount" {
  default     = "./_xstack/mnt"
  description = "where to mount the volume"
}

# Two bricks: each stores its share of every file as a plain file in its
# directory, created on first start.
volume "brick0" {
  type             = "posix"
  directory        = "${var.data}/brick0"
  create-directory = true
}

# Above each brick, as above every GlusterFS brick: the locks programs
# take with fcntl(2) and flock(2), shared by every front end of the stack
# (the mount, the Go API). stripe sends all locks to its first child.
volume "brick0-locks" {
  type       = "locks"
  subvolumes = ["brick0"]
}

volume "brick1" {
  type             = "posix"
  directory        = "${var.data}/brick1"
  create-directory = true
}

volume "brick1-locks" {
  type       = "locks"
  subvolumes = ["brick1"]
}

# Files are cut into 128KiB blocks dealt round-robin to the bricks; large
# images use bigger blocks so that sequential reads stay long on each brick.
volume "stripe" {
  type               = "stripe"
  subvolumes         = ["brick0-locks", "brick1-locks"]
  block-size         = "128KiB"
  block-size-pattern = { "*.iso" = "1MiB", "*.img" = "1MiB" }
}

# A page cache above the stripe: repeated reads are served from memory.
volume "cache" {
  type       = "cache"
  subvolumes = ["stripe"]
  cache-size = "32MiB"
  page-size  = "128KiB"
  log-level  = "info"
}

# The top: the one volume no other volume uses, here "cache". Written out
# for clarity; it could be left to inference.
top = "cache"

# The FUSE front end. Mounted as root, it is open to every user, with the
# kernel checking permissions (default-permissions), as GlusterFS mounts
# are; allow-other = false keeps it to root.
mount {
  path                = var.mount
  entry-timeout       = "1s"
  attr-timeout        = "1s"
  negative-timeout    = "0s"
  max-write           = "1MiB"
  read-ahead          = "1MiB"
  default-permissions = true
}

# kill -USR1 <pid> writes a statedump (pools, iobufs, caches) here;
# `xstack dump MOUNTPOINT` prints one.
statedump {
  path = "${var.data}/dumps"
}
