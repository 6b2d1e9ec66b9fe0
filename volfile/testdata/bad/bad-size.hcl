volume "k" {
  type = "kinds"
  sz   = "128KB/s"
  sm   = { "*.iso" = "1 megabyte", "*.img" = -4 }
}
