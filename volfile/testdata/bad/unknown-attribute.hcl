volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
tpo = "brick0"
