volume "brick0" {
  type      = "posx"
  directory = "/srv/brick0"
}
