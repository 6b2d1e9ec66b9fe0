volume "k" {
  type = "kinds"
  b    = "maybe"
  sz   = ["1MiB"]
  i    = "seven"
  d    = true
  p    = 12
  sm   = "1MiB"
  im   = { "*.log" = "high" }
  s    = { a = 1 }
}
