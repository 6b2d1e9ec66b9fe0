volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
statedump {
  dir = "/tmp"
}
statedump {
  path = "/var/tmp"
}
