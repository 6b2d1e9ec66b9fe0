# A type whose SchemaFor cannot know the schema yet (a plugin that
# publishes none): "binary" is checked, "level" and "sizes" are kept as
# written, in the order written, for the type to check when it starts.
volume "p" {
  type   = "plugin"
  binary = "unpublished"
  level  = 4
  sizes  = { "*.iso" = "1MiB", "*" = 4096 }
}
