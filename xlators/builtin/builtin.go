// Package builtin assembles the registry of the translators that ship with
// xstack.
package builtin

import (
	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/cache"
	"github.com/xstack/xstack/xlators/locks"
	"github.com/xstack/xstack/xlators/posix"
	"github.com/xstack/xstack/xlators/stripe"
	"github.com/xstack/xstack/xlators/writebehind"
)

// Registry returns a new registry holding every built-in translator type.
func Registry() *xlator.Registry {
	r := xlator.NewRegistry()
	cache.Register(r)
	locks.Register(r)
	posix.Register(r)
	host.Register(r)
	stripe.Register(r)
	writebehind.Register(r)
	return r
}
