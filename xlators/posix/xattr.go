package posix

import (
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// Extended attributes are read and written through the /proc path of an
// O_PATH fd on the target, so no name in the brick is resolved twice and a
// symlink is never followed: on a symlink the calls act on the link
// itself, where Linux refuses user.* attributes (EPERM) as it would for a
// local client. The gfid xattrs are internal: Setxattr and Removexattr
// refuse them with EPERM, Getxattr answers ENODATA and Listxattr leaves
// them out. Other trusted.xstack.* keys pass: translators above (stripe)
// keep their metadata there, and the front ends keep clients out of that
// namespace.

// Setxattr sets an extended attribute; flags are XATTR_CREATE/REPLACE.
func (p *Posix) Setxattr(c *xlator.Call, loc *xlator.Loc, name string, value []byte, flags uint32) error {
	if err := p.writable(); err != nil {
		return err
	}
	if isGfidKey(name) {
		return syscall.EPERM
	}
	o, err := p.resolve(loc)
	if err != nil {
		return err
	}
	defer o.close()
	return p.setxattr(o.fd, name, value, int(flags))
}

// Getxattr returns an extended attribute's value (ENODATA if absent). The
// value is a new slice the caller owns.
func (p *Posix) Getxattr(c *xlator.Call, loc *xlator.Loc, name string) ([]byte, error) {
	if err := p.up(); err != nil {
		return nil, err
	}
	if isGfidKey(name) {
		return nil, syscall.ENODATA
	}
	o, err := p.resolve(loc)
	if err != nil {
		return nil, err
	}
	defer o.close()
	buf := make([]byte, 256)
	for {
		n, err := p.getxattr(o.fd, name, buf)
		if err == nil {
			return buf[:n:n], nil
		}
		if err != syscall.ERANGE {
			return nil, err
		}
		sz, err := p.getxattr(o.fd, name, nil)
		if err != nil {
			return nil, err
		}
		buf = make([]byte, sz+64)
	}
}

// Listxattr returns the names of the extended attributes, without the
// internal gfid keys.
func (p *Posix) Listxattr(c *xlator.Call, loc *xlator.Loc) ([]string, error) {
	if err := p.up(); err != nil {
		return nil, err
	}
	o, err := p.resolve(loc)
	if err != nil {
		return nil, err
	}
	defer o.close()
	path := procPath(o.fd)
	buf := make([]byte, 1024)
	var n int
	for {
		n, err = unix.Listxattr(path, buf)
		if err == nil {
			break
		}
		if err != syscall.ERANGE {
			return nil, err
		}
		sz, err := unix.Listxattr(path, nil)
		if err != nil {
			return nil, err
		}
		buf = make([]byte, sz+256)
	}
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" && !isGfidKey(s) {
			names = append(names, s)
		}
	}
	return names, nil
}

// Removexattr removes an extended attribute (ENODATA if absent).
func (p *Posix) Removexattr(c *xlator.Call, loc *xlator.Loc, name string) error {
	if err := p.writable(); err != nil {
		return err
	}
	if isGfidKey(name) {
		return syscall.EPERM
	}
	o, err := p.resolve(loc)
	if err != nil {
		return err
	}
	defer o.close()
	return unix.Removexattr(procPath(o.fd), name)
}
