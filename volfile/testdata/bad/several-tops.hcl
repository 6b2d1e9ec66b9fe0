volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
volume "brick1" {
  type      = "posix"
  directory = "/srv/brick1"
}
volume "brick2" {
  type      = "posix"
  directory = "/srv/brick2"
}
