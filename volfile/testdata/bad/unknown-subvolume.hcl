# A typo in a subvolume name: reported once, with a suggestion, and no
# follow-on complaint that brick1 is now a second top.
volume "brick0" {
  type      = "posix"
  directory = "/srv/brick0"
}
volume "brick1" {
  type      = "posix"
  directory = "/srv/brick1"
}
volume "stripe" {
  type       = "stripe"
  subvolumes = ["brick0", "brik1"]
}
