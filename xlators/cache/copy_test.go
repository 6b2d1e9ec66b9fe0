package cache

import (
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestCopyDropsDestinationPages: a read of the destination after a copy
// through the cache returns the copied bytes, not the pages it cached
// before; the source's pages stay cached (a second read of it reaches no
// child); over mem (copied by readv and writev below the cache) and over
// posix (copied by the kernel).
func TestCopyDropsDestinationPages(t *testing.T) {
	for _, child := range []string{"mem", "posix"} {
		t.Run(child, func(t *testing.T) {
			e := graphOver(t, true, child, map[string]string{"page-size": "4KiB", "cache-size": "1MiB"})
			src, sfd := e.create("src")
			defer src.Unref()
			defer sfd.Unref()
			dst, dfd := e.create("dst")
			defer dst.Unref()
			defer dfd.Unref()
			old, data := pattern(64<<10, 1), pattern(64<<10, 2)
			e.write(sfd, 0, data)
			e.write(dfd, 0, old)
			e.expect(sfd, 0, 64<<10, data)
			e.expect(dfd, 0, 64<<10, old)
			if e.pagesOf(dst) == 0 || e.pagesOf(src) == 0 {
				t.Fatal("nothing cached before the copy")
			}
			c := e.call(xlator.FopCopyFileRange)
			n, err := e.g.Top().CopyFileRange(c, sfd, 1000, dfd, 5000, 20000, 0)
			c.Done()
			if err != nil || n != 20000 {
				t.Fatalf("copy: %d, %v", n, err)
			}
			want := append([]byte(nil), old...)
			copy(want[5000:25000], data[1000:21000])
			e.expect(dfd, 0, 64<<10, want)
			reads := e.childReads("l1")
			e.expect(sfd, 0, 64<<10, data)
			if got := e.childReads("l1"); got != reads {
				t.Errorf("the source's pages were dropped: %d child reads for a cached file", got-reads)
			}
			// Past the end: the short last page goes too, and the file grows.
			c = e.call(xlator.FopCopyFileRange)
			n, err = e.g.Top().CopyFileRange(c, sfd, 0, dfd, 64<<10-10, 100, 0)
			c.Done()
			if err != nil || n != 100 {
				t.Fatalf("copy past the end: %d, %v", n, err)
			}
			want = append(want[:64<<10-10], data[:100]...)
			e.expect(dfd, 0, 128<<10, want)
		})
	}
}
