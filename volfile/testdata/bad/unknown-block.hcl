volum "brick0" {
  type = "posix"
}
