package stripe

import (
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// Lseek is not combined from the children yet: ENOSYS, so that a front
// end takes the whole file as data rather than Base asking the first
// child, which holds only some of the blocks.
func (s *Stripe) Lseek(c *xlator.Call, fd *xlator.FD, off int64, whence uint32) (int64, error) {
	return 0, syscall.ENOSYS
}
