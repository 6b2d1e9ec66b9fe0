volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
mount {
  entry-timeout = "forever"
  attr-timeout  = "-1s"
  max-write     = "64MiB"
  allow-others  = true
  transport     = "uring"
}
