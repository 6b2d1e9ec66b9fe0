volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
volume "cache" {
  type       = "cache"
  subvolumes = ["brick0"]
}
top = "cahce"
