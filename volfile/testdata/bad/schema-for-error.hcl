volume "p" {
  type   = "plugin"
  binary = "fail"
  level  = 4
}
