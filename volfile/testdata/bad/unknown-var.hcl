# vars: dta=/srv,data=/srv/x
variable "data" {
  default = "./xstack-data"
}
volume "brick0" {
  type      = "posix"
  directory = "${var.data}/brick0"
}
