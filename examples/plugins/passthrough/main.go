// Command passthrough is the smallest useful plugin: a translator that
// overrides nothing, so every fop goes to its one child in the host. It is
// where to start a plugin of your own, and what the benchmarks measure the
// protocol's cost with.
package main

import (
	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/xlator"
)

// pass overrides nothing: xlator.Base winds every fop to the first child.
type pass struct{ xlator.Base }

var _ xlator.Xlator = (*pass)(nil)

func main() {
	plugin.Serve(xlator.Type{
		Name:        "passthrough",
		Doc:         "passes every fop to its child",
		MinChildren: 1,
		MaxChildren: 1,
		// It leaves file data alone: a copy_file_range goes to the
		// child as a copy, not as reads and writes through pass.
		DataTransparent: true,
		New:             func() xlator.Xlator { return &pass{} },
	})
}
