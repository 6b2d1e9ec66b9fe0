volume "cache" {
  type = "cache"
  subvolumes = ["brick0"]
  priority {
    conf = 3
  }
}
volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
