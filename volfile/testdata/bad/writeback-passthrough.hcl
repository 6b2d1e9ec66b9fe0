# The kernel cannot both keep a file's writes and pass them to the brick.
volume "brick" {
  type      = "posix"
  directory = "/srv/brick"
}

mount {
  path            = "/mnt/x"
  passthrough     = true
  writeback-cache = true
}
