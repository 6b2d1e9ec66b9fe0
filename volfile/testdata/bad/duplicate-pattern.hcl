volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
volume "stripe" {
  type               = "stripe"
  subvolumes         = ["brick0"]
  block-size-pattern = { "*.iso" = "1MiB", "*.img" = "1MiB", "*.iso" = "2MiB" }
}
