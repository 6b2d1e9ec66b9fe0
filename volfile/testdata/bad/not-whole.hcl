volume "k" {
  type = "kinds"
  i    = 2.5
  sz   = 1.5
}
