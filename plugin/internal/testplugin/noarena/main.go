// Command noarena is a pass-through plugin that cannot map the shared
// arena, for the tests of package plugin/host: before it serves, it puts
// /dev/null on the descriptor the host passes the arena on (fd 3), so
// that mapping it fails as it does in a plugin whose arena did not reach
// it (a sandbox that closes inherited descriptors, a launcher in
// between). Every fop, and all its data, must then travel in gRPC
// messages. It is built by the tests and never shipped.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/xlator"
)

// arenaFD is the descriptor the host passes the arena on.
const arenaFD = 3

// pass overrides nothing: every fop goes to the one child.
type pass struct{ xlator.Base }

var _ xlator.Xlator = (*pass)(nil)

func main() {
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Dup3(null, arenaFD, unix.O_CLOEXEC)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "noarena: hide the arena: %v\n", err)
		os.Exit(1)
	}
	plugin.Serve(xlator.Type{
		Name:        "noarena",
		Doc:         "passes every fop to its child, without the shared arena",
		MinChildren: 1,
		MaxChildren: 1,
		New:         func() xlator.Xlator { return &pass{} },
	})
}
