volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
volume "stripe" {
  type               = "stripe"
  subvolumes         = ["brick0"]
  block-size         = "1KiB"
  block-size-pattern = { "*.iso" = "2GiB" }
}
volume "cache" {
  type       = "cache"
  subvolumes = ["stripe"]
  read-ahead = 100
  priority   = { "*.conf" = 0 }
}
