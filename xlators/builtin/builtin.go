// Package builtin assembles the registry of the translators that ship with
// xstack.
package builtin

import (
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/posix"
)

// Registry returns a new registry holding every built-in translator type.
func Registry() *xlator.Registry {
	r := xlator.NewRegistry()
	posix.Register(r)
	return r
}
