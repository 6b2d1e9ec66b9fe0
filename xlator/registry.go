package xlator

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Type describes an xlator type: the name volfiles use in `type = "..."`,
// its option schema and its constructor. Built-in translators register a
// Type from their register.go; plugins register one per plugin binary.
type Type struct {
	Name    string
	Doc     string
	Options Schema
	// MinChildren and MaxChildren bound the number of subvolumes;
	// MaxChildren < 0 means no limit.
	MinChildren, MaxChildren int
	// New returns a fresh, uninitialised xlator. The graph then calls Init.
	New func() Xlator
	// SchemaFor, when set, returns the schema of a particular volume's
	// other options, those Options does not declare: plugin types read the
	// schema a plugin publishes beside its binary. It receives the options
	// of Options already decoded (the "bootstrap" options). It must not run
	// anything a volfile names, since loading a volfile is how an untrusted
	// one is checked. When it cannot know the schema before the volume
	// starts, it returns an error wrapping ErrSchemaUnknown: the loader then
	// warns, and the type checks those options when it starts, from
	// VolumeSpec.Literals. Any other error is an error in the volume.
	SchemaFor func(bootstrap Options) (Schema, error)
	// SharedIobufs says the type hands the graph's iobufs to another
	// process (an out-of-process translator reading them in place): a
	// graph with such a volume gets a Shared iobuf pool.
	SharedIobufs bool
	// DataTransparent says the type passes readv and writev to its one
	// child unchanged and keeps no file data of its own (no cache, no
	// transformation, no accounting of bytes that must stay exact): a
	// front end may move a file's data past it, straight to the bottom's
	// backing file (FUSE passthrough; see Graph.BackingFile).
	DataTransparent bool
	// KeepsLocks says the type answers Lk itself: it keeps the fcntl and
	// flock locks of the files below it. A front end hands locks to a
	// graph that has such a volume (Graph.KeepsLocks); without one they
	// stay in the front end (a FUSE mount's kernel).
	KeepsLocks bool
}

// ErrSchemaUnknown is wrapped by a SchemaFor error that means the schema
// cannot be known before the volume starts (a plugin that publishes none),
// as opposed to an error in the volume.
var ErrSchemaUnknown = errors.New("option schema not known before start")

// NeedsSharedIobufs reports whether a volume of spec is of a type with
// SharedIobufs.
func (r *Registry) NeedsSharedIobufs(spec *Spec) bool {
	for _, v := range spec.Volumes {
		if t, ok := r.Lookup(v.Type); ok && t.SharedIobufs {
			return true
		}
	}
	return false
}

// Registry maps type names to types. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	types map[string]*Type
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]*Type{}} }

// Register adds t; a second type of the same name is an error.
func (r *Registry) Register(t Type) error {
	if t.Name == "" || t.New == nil {
		return fmt.Errorf("xlator: type %q needs a name and a constructor", t.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[t.Name]; dup {
		return fmt.Errorf("xlator: type %q registered twice", t.Name)
	}
	tt := t
	r.types[t.Name] = &tt
	return nil
}

// MustRegister is Register for the built-in types, whose names are fixed at
// compile time; it panics on a duplicate, a programming error.
func (r *Registry) MustRegister(t Type) {
	if err := r.Register(t); err != nil {
		panic(err)
	}
}

// Lookup returns the type named name.
func (r *Registry) Lookup(name string) (*Type, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	return t, ok
}

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := make([]string, 0, len(r.types))
	for k := range r.types {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
