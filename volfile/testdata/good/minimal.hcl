volume "only" {
  type      = "posix"
  directory = "/srv/only"
}
