volume "brick0" {
  type      = "posix"
  directroy = "/srv/brick0"
  subvolume = []
}
