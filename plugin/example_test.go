package plugin_test

import (
	"syscall"

	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// readOnly refuses writes; every fop it does not override goes to its
// child, which is the host's subvolume.
type readOnly struct{ xlator.Base }

func (r *readOnly) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	return 0, syscall.EROFS
}

// The main function of a plugin binary: the translator type, written as
// an in-process one, and Serve. A volume of type "plugin" with path =
// the binary runs it (package plugin/host).
func Example() {
	plugin.Serve(xlator.Type{Name: "read-only", MinChildren: 1, MaxChildren: 1,
		Options: xlator.Schema{{Name: "reason", Kind: xlator.KindString}},
		New:     func() xlator.Xlator { return &readOnly{} }})
}
