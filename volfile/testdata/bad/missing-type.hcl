volume "brick0" {
  directory = "/srv/brick0"
}
