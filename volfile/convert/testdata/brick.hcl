# Converted from the GlusterFS volfile brick.vol by xstack convert.
# A brick directory GlusterFS used holds GlusterFS's metadata; xstack
# takes an existing directory as a brick only when told to (-adopt).

volume "gv0-posix" {
  type                  = "posix"
  directory             = "/srv/brick/gv0"
  o-direct              = false
  reserve               = "1GiB"
  health-check-interval = "20s"
  # GlusterFS's posix refuses a missing brick directory; xstack's would
  # create it.
  create-directory = false
}

volume "gv0-locks" {
  type       = "locks"
  subvolumes = ["gv0-posix"]
}

# Volume "/srv/brick/gv0" (debug/io-stats, brick.vol:15) is left out,
# "gv0-locks" takes its place: xstack keeps these statistics for every
# translator: xstack dump shows them.

# GlusterFS takes the last volume of the file as the top.
top = "gv0-locks"
