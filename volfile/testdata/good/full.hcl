# Every feature at once: variables, interpolation, env() with a fallback,
# options of every kind, log levels, an explicit top, mount and statedump.
variable "data" {
  default     = "./xstack-data"
  description = "brick root"
}
variable "mount" {
  default = "./xstack-mnt"
}
variable "size" {
  default = 128
}

volume "brick0" {
  type                  = "posix"
  directory             = "${var.data}/brick0"
  o-direct              = "on"
  reserve               = 1048576
  fsync                 = "BATCH"
  health-check-interval = 30
  log-level             = "debug"
}
volume "brick1" {
  type      = "posix"
  directory = "${var.data}/brick1"
  reserve   = null # as if not given
}
volume "stripe" {
  type               = "stripe"
  subvolumes         = ["brick0", "brick1"]
  block-size         = "${var.size}KiB"
  block-size-pattern = { "*.iso" = "1MiB", "*.img" = 65536, "big*" = "1.5MiB" }
  coalesce           = false
}
volume "cache" {
  type          = "cache"
  subvolumes    = ["stripe"]
  cache-size    = "32MiB"
  cache-timeout = "250ms"
  priority      = { "*.conf" = 3, z = 2, "*" = 1 }
  read-ahead    = 4
  log-level     = "WARN"
}
volume "k" {
  type       = "kinds"
  subvolumes = ["cache"]
  s          = env("XSTACK_TEST_SURELY_UNSET", "fallback")
  b          = true
  i          = 7
  sz         = "2G"
  d          = "1m30s"
  e          = "Green"
  p          = "relative/path"
  sm         = {}
  im         = { "b*" = 2, "a*" = 1 }
}
top = "k"

mount {
  path          = var.mount
  entry-timeout = "2s"
  max-write     = "128KiB"
  read-ahead    = "512KiB"
  allow-other   = "yes"
  fsname        = "test"
  inode-lru-limit = 1000
  transport     = "io-uring"
}
statedump {
  path   = "/tmp"
  socket = ""
}
metrics {
  address = "127.0.0.1:9464"
}
