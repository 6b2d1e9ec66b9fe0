# hcl reports the repeated attribute; decoding goes on and finds the bad
# unit below too.
volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
  directory = "/srv/brick1"
  reserve   = "1QB"
}
