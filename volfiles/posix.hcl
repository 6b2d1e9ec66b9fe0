# The smallest useful volfile: one posix brick, mounted directly. Every
# operation goes straight to files under var.data.
#
#   xstack run -var data=/srv/brick -var mount=/mnt/x volfiles/posix.hcl

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
  # Refuse new data once the disk has less than this free.
  reserve = "1GiB"
  # Check every 30s that the brick is still readable and writable.
  health-check-interval = "30s"
}

volume "brick-locks" {
  type       = "locks"
  subvolumes = ["brick"]
}

mount {
  path = var.mount
}
