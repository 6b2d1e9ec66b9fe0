volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
  fsync     = "sometimes"
}
