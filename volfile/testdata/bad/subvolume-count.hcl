volume "brick0" {
  type       = "posix"
  directory  = "/srv/brick0"
  subvolumes = ["brick1"]
}
volume "brick1" {
  type      = "posix"
  directory = "/srv/brick1"
}
volume "stripe" {
  type = "stripe"
}
volume "cache" {
  type       = "cache"
  subvolumes = ["brick0", "stripe"]
}
