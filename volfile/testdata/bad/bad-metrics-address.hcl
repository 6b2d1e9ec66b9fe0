volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
metrics {
  address = "9464"
}
