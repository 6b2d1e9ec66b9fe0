package xlatortest

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Snapshot describes every name under dir, one line each in walk order:
// its mode, size, mtime, ctime and extended attributes with their values,
// all that a write, chmod, rename or setxattr would change. Tests compare
// two snapshots to show that something (a read-only stack) changed
// nothing in a brick.
func Snapshot(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		buf := make([]byte, 4096)
		n, _ := unix.Llistxattr(p, buf)
		names := strings.Split(strings.TrimRight(string(buf[:max(n, 0)]), "\x00"), "\x00")
		slices.Sort(names)
		var xattrs []string
		for _, name := range names {
			v := make([]byte, 4096)
			if m, err := unix.Lgetxattr(p, name, v); err == nil {
				xattrs = append(xattrs, fmt.Sprintf("%s=%q", name, v[:m]))
			}
		}
		out = append(out, fmt.Sprintf("%s mode %o size %d mtime %v ctime %v %s", p, st.Mode, st.Size, st.Mtim, st.Ctim, xattrs))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
