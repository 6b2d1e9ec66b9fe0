volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"

volume "brick1" {
