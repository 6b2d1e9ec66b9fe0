# a → b → c → a, plus d below itself. No top can be found, and none is
# asked for: the cycles are the error.
volume "a" {
  type       = "stripe"
  subvolumes = ["b"]
}
volume "b" {
  type       = "stripe"
  subvolumes = ["c"]
}
volume "c" {
  type       = "stripe"
  subvolumes = ["a"]
}
volume "d" {
  type       = "stripe"
  subvolumes = ["d"]
}
