variable "data" {
  default = "/srv"
}
volume "brick0" {
  type      = "posix"
  directory = "${var.dta}/brick0"
}
