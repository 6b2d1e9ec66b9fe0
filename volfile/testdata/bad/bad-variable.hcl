variable "data" {
  default = ["a", "b"]
}
variable "data" {
  default = "x"
}
variable "9lives" {
  default = "x"
  type    = string
}
volume "brick0" {
  type      = "posix"
  directory = var.data
}
