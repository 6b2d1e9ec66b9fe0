# A cache over a single posix brick, tuned for many small, hot files:
# small pages, a short revalidation timeout, and priorities so that
# configuration files stay cached longest.
#
#   xstack run -var data=/srv/brick -var mount=/mnt/x volfiles/cache-posix.hcl

variable "data" {
  default = "./_xstack/data/brick"
}

variable "mount" {
  default = "./_xstack/mnt"
}

volume "brick" {
  type      = "posix"
  directory = var.data
  o-direct  = false # the cache above already keeps hot pages
}

volume "brick-locks" {
  type       = "locks"
  subvolumes = ["brick"]
}

volume "cache" {
  type          = "cache"
  subvolumes    = ["brick-locks"]
  cache-size    = "64MiB"
  page-size     = "4KiB"
  cache-timeout = "2s" # revalidate cached pages after this long
  max-file-size = "1MiB" # larger files bypass the cache
  # Higher priority pages are evicted last; patterns match base names,
  # first match wins.
  priority   = { "*.conf" = 3, "*.json" = 2, "*" = 1 }
  read-ahead = 4
}

mount {
  path          = var.mount
  attr-timeout  = "2s"
  entry-timeout = "2s"
}
