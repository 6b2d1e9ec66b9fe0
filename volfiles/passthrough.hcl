# One posix brick, mounted with kernel passthrough: the kernel reads and
# writes the brick's files itself, and no READ or WRITE reaches xstack
# (Linux 6.9 or later, as root; elsewhere data takes the normal path, and
# the log says so once). Metadata still goes through the stack. Nothing
# above posix may need the data, and posix keeps no reserve: it could not
# check one on writes it never sees.
#
#   xstack run volfiles/passthrough.hcl

variable "data" {
  default     = "./_xstack/data/brick"
  description = "the brick directory"
}

variable "mount" {
  default     = "./_xstack/mnt"
  description = "where to mount the volume"
}

volume "brick" {
  type      = "posix"
  directory = var.data
}

volume "brick-locks" {
  type       = "locks"
  subvolumes = ["brick"]
}

mount {
  path        = var.mount
  passthrough = true
}
