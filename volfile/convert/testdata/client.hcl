# Converted from the GlusterFS volfile client.vol by xstack convert.
# A brick directory GlusterFS used holds GlusterFS's metadata; xstack
# takes an existing directory as a brick only when told to (-adopt).

volume "b0" {
  type      = "posix"
  directory = "/srv/b0"
  # GlusterFS's posix refuses a missing brick directory; xstack's would
  # create it.
  create-directory = false
}

volume "b1" {
  type      = "posix"
  directory = "/srv/b 1"
  # GlusterFS's posix refuses a missing brick directory; xstack's would
  # create it.
  create-directory = false
}

volume "stripe" {
  type               = "stripe"
  subvolumes         = ["b0", "b1"]
  block-size         = "256KiB"
  block-size-pattern = { "*.iso" = "1MiB", "*.img" = "1536KiB" }
  # GlusterFS's stripe coalesces unless told not to; xstack's does not.
  coalesce = true
}

volume "cache" {
  type          = "cache"
  subvolumes    = ["stripe"]
  cache-size    = "64MiB"
  cache-timeout = "2s"
  priority      = { "*.h" = 3, "*.c" = 2 }
  max-file-size = "512MiB"
}

# GlusterFS takes the last volume of the file as the top.
top = "cache"
