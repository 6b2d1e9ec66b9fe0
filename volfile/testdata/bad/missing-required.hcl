volume "brick0" {
  type = "posix"
}
