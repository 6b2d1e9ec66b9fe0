volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
volume "stripe" {
  type       = "stripe"
  subvolumes = "brick0"
}
