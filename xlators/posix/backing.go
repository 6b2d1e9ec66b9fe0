package posix

import (
	"fmt"

	"github.com/xstack/xstack/xlator"
)

var _ xlator.BackingFiler = (*Posix)(nil)

// BackingFile gives a front end the brick file behind an open fd, so that
// the kernel can read and write it itself (FUSE passthrough). Those bytes
// bypass posix: its fop statistics, its bio path and its reserve. A brick
// with a reserve therefore refuses: the reserve is checked on every write,
// and a file half on one path and half on the other is what the kernel
// refuses too.
func (p *Posix) BackingFile(fd *xlator.FD) (int, error) {
	if p.reserve > 0 {
		return -1, fmt.Errorf("%w: brick %s keeps a reserve of %d bytes, checked on every write", xlator.ErrNotTransparent, p.dir, p.reserve)
	}
	fc, err := p.file(fd)
	if err != nil {
		return -1, err
	}
	return fc.fd, nil
}
