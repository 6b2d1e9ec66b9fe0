volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
metrics {
  address = "localhost:http-alt"
}
metrics {
  adress = "127.0.0.1:9464"
}
