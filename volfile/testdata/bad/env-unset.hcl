volume "brick0" {
  type      = "posix"
  directory = env("XSTACK_TEST_SURELY_UNSET")
}
