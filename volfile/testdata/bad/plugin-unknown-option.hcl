# The schema comes from the plugin; options it does not declare are
# errors like any other.
volume "p" {
  type   = "plugin"
  binary = "./xl-trace"
  level  = 12
  levle  = 4
}
