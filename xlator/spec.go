package xlator

import "go.uber.org/zap/zapcore"

// Spec is a validated graph description: what a volfile becomes after
// loading. Volumes are listed in the order the volfile declares them; every
// subvolume name refers to a volume in the list, there is no cycle, and Top
// names the single volume no other volume uses (or the explicit top).
type Spec struct {
	Source  string // the volfile path, or "<embedded>"
	Volumes []VolumeSpec
	Top     string
}

// VolumeSpec is one volume of a Spec.
type VolumeSpec struct {
	Name       string
	Type       string
	Subvolumes []string
	Options    Options
	// LogLevel is the volume's zap level ("log-level" in the volfile); it
	// applies only when LogLevelSet, otherwise the volume logs at the level
	// of the parent logger (the command line's -log-level).
	LogLevel    zapcore.Level
	LogLevelSet bool
	// Pos is "file:line:col" of the volume block, for messages at run time.
	Pos string
	// Literals are, for a type with SchemaFor, the options the type does
	// not declare itself, as written and in the order written, whether or
	// not SchemaFor gave their schema: the type decodes them again when it
	// starts, against the schema it then knows for certain. Options holds
	// them decoded only when SchemaFor gave their schema.
	Literals []LiteralOption
}

// Volume returns the volume named name.
func (s *Spec) Volume(name string) (*VolumeSpec, bool) {
	for i := range s.Volumes {
		if s.Volumes[i].Name == name {
			return &s.Volumes[i], true
		}
	}
	return nil, false
}
