# An explicit top leaves "spare" out of the graph, with a warning.
volume "brick0" {
  type      = "posix"
  directory = "/srv/b0"
}
volume "spare" {
  type      = "posix"
  directory = "/srv/spare"
}
volume "cache" {
  type       = "cache"
  subvolumes = ["brick0"]
}
top = "cache"
