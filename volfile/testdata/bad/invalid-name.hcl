volume "brick 0" {
  type      = "posix"
  directory = "/srv/brick0"
}
