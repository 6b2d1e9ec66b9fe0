// Command hang serves a translator that hangs, for the tests of deadlines
// and interrupts: over one child in the host, it passes every fop down,
// except that
//
//   - a lookup of a name that starts with "hang-lookup", a readv of a file
//     whose name starts with "hang-read" and a writev of one whose name
//     starts with "hang-write" wait until the file named by option
//     release exists (polled every 10 ms), ignoring the call's context, as
//     a translator stuck on a lock or a dead server would;
//   - a lookup of a name that starts with "freeze" stops the whole
//     process (SIGSTOP), as a plugin stuck in the kernel would be: it
//     answers nothing any more, pings included.
//
// Its statedump says how many fops wait now (waiting) and have waited
// (waited).
package main

import (
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

type hang struct {
	xlator.Base
	release string
	waiting atomic.Int64
	waited  atomic.Int64
}

var _ xlator.Xlator = (*hang)(nil)

func (h *hang) Init(ic *xlator.InitContext) error {
	h.release = ic.Options.String("release")
	return nil
}

func (h *hang) Dump() []xlator.KV {
	return []xlator.KV{{Key: "waiting", Value: h.waiting.Load()}, {Key: "waited", Value: h.waited.Load()}}
}

// hold waits until the release file exists when name starts with
// prefix.
func (h *hang) hold(name, prefix string) {
	if strings.HasPrefix(name, prefix) {
		h.waiting.Add(1)
		h.waited.Add(1)
		defer h.waiting.Add(-1)
		for {
			if _, err := os.Stat(h.release); err == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func nameOf(fd *xlator.FD) string {
	_, name, _ := fd.Inode.Dentry()
	return name
}

func (h *hang) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if strings.HasPrefix(loc.Name, "freeze") {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		// The stop reaches every thread a moment later, and this one
		// could answer the lookup first: it never answers.
		select {}
	}
	h.hold(loc.Name, "hang-lookup")
	return h.Base.Lookup(c, loc)
}

func (h *hang) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	h.hold(nameOf(fd), "hang-read")
	return h.Base.Readv(c, fd, size, off)
}

func (h *hang) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	h.hold(nameOf(fd), "hang-write")
	return h.Base.Writev(c, fd, data, off)
}

func main() {
	plugin.Serve(xlator.Type{
		Name:        "hang",
		Doc:         "hangs in lookups, reads and writes of names that start with hang-lookup, hang-read, hang-write (until the release file exists) or freeze (for good)",
		MinChildren: 1,
		MaxChildren: 1,
		Options: xlator.Schema{{Name: "release", Kind: xlator.KindPath, Required: true,
			Doc: "held fops go on once this file exists"}},
		New: func() xlator.Xlator { return &hang{} },
	})
}
