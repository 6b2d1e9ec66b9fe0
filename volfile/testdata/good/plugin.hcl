# A type whose schema comes from SchemaFor: "level" is declared by the
# plugin, "binary" by the type itself.
volume "p" {
  type   = "plugin"
  binary = "./xl-trace"
  level  = 4
}
