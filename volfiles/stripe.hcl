# Stripe over two posix bricks, without a cache: every read and write
# reaches the bricks. Files are cut into 128KiB blocks dealt round-robin.
#
#   xstack run -var data=/srv/xstack volfiles/stripe.hcl

variable "data" {
  default     = "./_xstack/data"
  description = "directory holding the brick directories"
}

variable "mount" {
  default     = "./_xstack/mnt"
  description = "where to mount the volume"
}

volume "brick0" {
  type      = "posix"
  directory = "${var.data}/brick0"
}

volume "brick0-locks" {
  type       = "locks"
  subvolumes = ["brick0"]
}

volume "brick1" {
  type      = "posix"
  directory = "${var.data}/brick1"
}

volume "brick1-locks" {
  type       = "locks"
  subvolumes = ["brick1"]
}

volume "stripe" {
  type       = "stripe"
  subvolumes = ["brick0-locks", "brick1-locks"]
  block-size = "128KiB"
}

mount {
  path = var.mount
}
