# The missing value is reported once, at the variable; the volumes that
# use it are not reported again.
variable "data" {
  description = "where the bricks live"
}
volume "brick0" {
  type      = "posix"
  directory = "${var.data}/brick0"
}
volume "stripe" {
  type       = "stripe"
  subvolumes = [var.data]
}
