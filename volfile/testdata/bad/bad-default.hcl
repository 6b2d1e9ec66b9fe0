volume "x" {
  type = "baddefault"
}
