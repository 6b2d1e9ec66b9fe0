# No top attribute: the top is the one volume nobody uses. brick1 sits
# below both stripes (a graph, not a tree).
volume "brick0" {
  type      = "posix"
  directory = "/srv/b0"
}
volume "brick1" {
  type      = "posix"
  directory = "/srv/b1"
}
volume "s1" {
  type       = "stripe"
  subvolumes = ["brick0", "brick1"]
}
volume "s2" {
  type       = "stripe"
  subvolumes = ["brick1"]
}
volume "root" {
  type       = "kinds"
  subvolumes = ["s1", "s2"]
}
