volume "brick0" {
  type                  = "posix"
  directory             = "/srv/brick0"
  health-check-interval = "5 minutes"
}
volume "k" {
  type = "kinds"
  subvolumes = ["brick0"]
  d    = 0.0000000001
}
