// Package volfile loads volfiles: HCL files that describe an xstack
// translator graph. Loading turns the text into a validated *xlator.Spec
// (plus the optional mount, statedump, metrics and memory settings) or into diagnostics
// that point at file:line:col with the offending source underlined. Nothing
// is built or started here; the graph package builds xlators from the Spec.
//
// # Syntax
//
//	variable "data" { default = "./_xstack/data" }  # var.data; the CLI may override it
//
//	volume "brick0" {
//	  type      = "posix"                  # an xlator type from the registry
//	  directory = "${var.data}/brick0"     # options of that type
//	  log-level = "info"                   # optional: debug, info, warn or error
//	}
//	volume "stripe" {
//	  type               = "stripe"
//	  subvolumes         = ["brick0", "brick1"]   # children, in order
//	  block-size         = "128KiB"
//	  block-size-pattern = { "*.iso" = "1MiB" }   # size map: glob = size, first match wins
//	}
//	top = "stripe"       # optional: otherwise the one volume no other volume uses
//	mount { path = "/mnt/x" }                    # optional FUSE front end, see Mount
//	statedump { path = "/tmp" }                  # optional, see Statedump
//	metrics { address = "127.0.0.1:9464" }       # optional Prometheus endpoint, see Metrics
//	memory { limit = "2GiB" }                    # optional memory limit and slab reaper, see Memory
//
// HCL takes one attribute per line: a block written on a single line may
// hold only one attribute (volume "b" { type = "posix" } parses, a second
// attribute on that line does not).
//
// Expressions may use var.NAME (declared by variable blocks; values passed
// to Parse override defaults) and the function env("NAME") or
// env("NAME", "fallback"), which reads the environment at load time.
//
// # Decoding in two phases
//
// A volume's options can only be checked once its type is known, and for
// some types (plugins) once some of its options are known. So each volume
// block is decoded twice: phase 1 reads the reserved attributes type,
// subvolumes and log-level; the type then gives the schema — for a type
// with SchemaFor, the type's own options are decoded first as bootstrap
// options and SchemaFor(bootstrap) returns the rest — and phase 2 checks
// every remaining attribute against that schema. An attribute the schema
// does not declare is an error, never silently ignored. SchemaFor runs
// nothing the volfile names (plugin types read a schema file the plugin
// publishes); when it cannot know the schema (xlator.ErrSchemaUnknown),
// the volume gets a warning instead, and the type checks those options
// when it starts. Either way, a SchemaFor type's other options are kept as
// written in VolumeSpec.Literals, with their positions.
//
// # Values
//
// An option's HCL value is converted by its kind (see xlator.Kind): numbers
// for int and size (a size also takes a string with a unit, "128KiB"; an int
// must be whole), true/false for bool (or a string GlusterFS accepts, such as
// "on"), strings for string, enum, path and duration (a duration also takes a
// number of seconds), and objects for size and int maps, whose keys are
// globs kept in the order written. An option set to null counts as not
// given. Options not given take the schema default. Path values are kept
// as written: a relative path is resolved by the runtime against its
// current directory (a brick's directory), except for options that say
// FromVolfile (a plugin's binary), which are made relative to the
// volfile's directory when it is loaded.
//
// # Diagnostics
//
// Parse collects as many problems as it can in one pass — every volume is
// checked even after an earlier one failed — but skips checks whose result
// would only repeat an earlier error (for example, a cycle check ignores an
// edge to an unknown subvolume).
package volfile
