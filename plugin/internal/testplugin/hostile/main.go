// Command hostile is a plugin that attacks its host, for the tests of
// package plugin/host: it tries to crash the host, to change data the host
// lends it, and to make the host keep what it names, through everything
// the host shares with it. It is built by the tests and never shipped.
//
// Between attacks it passes every fop to its child unchanged, so that a
// test can check that the data written through it reaches the brick. Its
// options:
//
//   - mode picks the attack:
//     truncate: at the first writev, tries to truncate, grow and reseal
//     both memfds the host shares (the arena, fd 3, and the host's iobuf
//     memory, fd 4) through the descriptors it got and through ones it
//     reopens read-write by /proc/self/fd, and punches a hole over the
//     whole arena, rings included.
//     scribble: from the first fop, writes random bytes all over its own
//     writable mapping of the arena (slot states, ring heads, calls,
//     slots) until scribble-for has passed since the first start.
//     write-host: at every writev whose data is host memory, tries to
//     write "EVIL" over it every way a process can: a shared writable
//     mapping of fd 4, mprotect of the read-only one, a descriptor
//     reopened read-write, pwrite, fallocate, ftruncate, new seals,
//     /proc/self/mem, a private mapping; then winds the data down as it
//     came.
//     flood: at the first writev, names flood made-up gfids to the host
//     (a stat each) and opens the written file without ever releasing it
//     until the host refuses.
//   - report names a file where the result of each attack is written, one
//     "attack: result" line each, once per attack.
//   - marker names a file that records the first start: truncate attacks
//     only if it does not exist, scribble scribbles until scribble-for
//     after its time.
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// The descriptors the host passes to a plugin.
const (
	arenaFD   = 3
	hostMemFD = 4
)

type hostile struct {
	xlator.Base
	mode        string
	report      string
	marker      string
	scribbleFor time.Duration
	flood       int

	once     sync.Once
	mu       sync.Mutex
	reported map[string]bool
	kept     []*xlator.FD // flood: fds never released
}

var _ xlator.Xlator = (*hostile)(nil)

func (x *hostile) Init(ic *xlator.InitContext) error {
	o := ic.Options
	x.mode, x.report, x.marker = o.String("mode"), o.String("report"), o.String("marker")
	x.scribbleFor, x.flood = o.Duration("scribble-for"), int(o.Int("flood"))
	x.reported = map[string]bool{}
	return nil
}

// result writes one attack's result to the report file, once.
func (x *hostile) result(attack string, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.reported[attack] || x.report == "" {
		return
	}
	x.reported[attack] = true
	res := "ok"
	if err != nil {
		res = err.Error()
	}
	f, e := os.OpenFile(x.report, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if e != nil {
		return
	}
	fmt.Fprintf(f, "%s: %s\n", attack, res)
	f.Close()
}

// firstStart returns when the plugin first started (the marker's time),
// and whether this is that start.
func (x *hostile) firstStart() (time.Time, bool) {
	if st, err := os.Stat(x.marker); err == nil {
		return st.ModTime(), false
	}
	_ = os.WriteFile(x.marker, nil, 0o644)
	return time.Now(), true
}

// begin starts the attacks that run from the first fop.
func (x *hostile) begin() {
	if x.mode != "scribble" {
		return
	}
	x.once.Do(func() {
		start, _ := x.firstStart()
		if until := start.Add(x.scribbleFor); time.Now().Before(until) {
			go x.scribble(until)
		}
	})
}

func (x *hostile) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	x.begin()
	return x.FirstChild().Lookup(c, loc)
}

func (x *hostile) Create(c *xlator.Call, loc *xlator.Loc, flags, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	x.begin()
	return x.FirstChild().Create(c, loc, flags, mode, umask, fd)
}

func (x *hostile) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	x.begin()
	return x.FirstChild().Readv(c, fd, size, off)
}

func (x *hostile) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	x.begin()
	switch x.mode {
	case "truncate":
		if _, first := x.firstStart(); first {
			x.truncate()
		}
	case "write-host":
		x.writeHost(data)
	case "flood":
		x.once.Do(func() { x.floodHost(c, fd) })
	}
	return x.FirstChild().Writev(c, fd, data, off)
}

// reopen opens fd again read-write through /proc/self/fd.
func reopen(fd int) (int, error) {
	return unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
}

func size(fd int) int64 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Size
}

func (x *hostile) truncate() {
	for _, f := range []struct {
		name string
		fd   int
	}{{"arena", arenaFD}, {"host-memory", hostMemFD}} {
		n := size(f.fd)
		x.result(f.name+" ftruncate 0", unix.Ftruncate(f.fd, 0))
		x.result(f.name+" ftruncate larger", unix.Ftruncate(f.fd, 2*n))
		_, err := unix.FcntlInt(uintptr(f.fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE)
		x.result(f.name+" add seal", err)
		rw, err := reopen(f.fd)
		x.result(f.name+" reopen read-write", err)
		if err == nil {
			x.result(f.name+" reopened ftruncate 0", unix.Ftruncate(rw, 0))
			x.result(f.name+" reopened ftruncate larger", unix.Ftruncate(rw, 2*n))
			x.result(f.name+" reopened punch", unix.Fallocate(rw, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, n))
			unix.Close(rw)
		}
	}
}

// scribble writes random bytes over a writable mapping of the arena of
// its own until until.
func (x *hostile) scribble(until time.Time) {
	n := size(arenaFD)
	mem, err := unix.Mmap(arenaFD, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	x.result("scribble map", err)
	if err != nil {
		return
	}
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	header := min(len(mem), 1<<20) // slot states and rings: 528 KiB
	for i := 0; time.Now().Before(until); i++ {
		end := len(mem)
		if i%2 == 0 {
			end = header
		}
		off := r.Intn(end - 64)
		r.Read(mem[off : off+1+r.Intn(64)])
		if i%1024 == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// hostMapping returns the start and file offset of this process's mapping
// of the host's iobuf memory holding address p.
func hostMapping(p uintptr) (start, off uintptr, err error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, "xstack-iobuf") {
			continue
		}
		fs := strings.Fields(l)
		lo, hi, _ := strings.Cut(fs[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		o, _ := strconv.ParseUint(fs[2], 16, 64)
		if p >= uintptr(a) && p < uintptr(b) {
			return uintptr(a), uintptr(o), nil
		}
	}
	return 0, 0, fmt.Errorf("no mapping of the host's memory holds %#x", p)
}

var evil = []byte("EVIL")

// writeHost tries to write over data, lent by the host, every way it can.
func (x *hostile) writeHost(data *iobuf.Iobref) {
	if data.Len() != 1 || len(data.Seg(0)) < len(evil) {
		return
	}
	seg := data.Seg(0)
	p := uintptr(unsafe.Pointer(&seg[0]))
	start, moff, err := hostMapping(p)
	x.result("find the host's memory", err)
	if err != nil {
		return
	}
	page := uintptr(os.Getpagesize())
	foff := int64(p - start + moff)                                                  // the data's offset in the file
	pgoff := foff &^ int64(page-1)                                                   // its page's
	in := int(foff - pgoff)                                                          // the data in its page
	pageMem := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&seg[0]), -in)), page) // the library's mapping
	writeMapped := func(fd, prot, flags int) error {
		m, err := unix.Mmap(fd, pgoff, int(page), prot, flags)
		if err != nil {
			return err
		}
		defer unix.Munmap(m)
		if prot&unix.PROT_WRITE == 0 {
			if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_WRITE); err != nil {
				return err
			}
		}
		copy(m[in:], evil)
		return nil
	}
	attacks := []struct {
		name string
		do   func() error
	}{
		{"mprotect the library's mapping", func() error {
			if err := unix.Mprotect(pageMem, unix.PROT_READ|unix.PROT_WRITE); err != nil {
				return err
			}
			copy(seg, evil)
			return nil
		}},
		{"mmap shared writable", func() error { return writeMapped(hostMemFD, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED) }},
		{"mmap shared, mprotect writable", func() error { return writeMapped(hostMemFD, unix.PROT_READ, unix.MAP_SHARED) }},
		{"pwrite", func() error { _, err := unix.Pwrite(hostMemFD, evil, foff); return err }},
		{"punch", func() error {
			return unix.Fallocate(hostMemFD, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, pgoff, int64(page))
		}},
		{"ftruncate", func() error { return unix.Ftruncate(hostMemFD, 0) }},
		{"add seal", func() error { _, err := unix.FcntlInt(hostMemFD, unix.F_ADD_SEALS, unix.F_SEAL_WRITE); return err }},
		{"reopened mmap shared writable", func() error {
			return withReopened(func(fd int) error { return writeMapped(fd, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED) })
		}},
		{"reopened mmap shared, mprotect writable", func() error {
			return withReopened(func(fd int) error { return writeMapped(fd, unix.PROT_READ, unix.MAP_SHARED) })
		}},
		{"reopened pwrite", func() error {
			return withReopened(func(fd int) error { _, err := unix.Pwrite(fd, evil, foff); return err })
		}},
		{"reopened punch", func() error {
			return withReopened(func(fd int) error {
				return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, pgoff, int64(page))
			})
		}},
		{"reopened ftruncate", func() error { return withReopened(func(fd int) error { return unix.Ftruncate(fd, 0) }) }},
		{"/proc/self/mem", func() error {
			f, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(evil, int64(p))
			return err
		}},
		{"mmap private writable", func() error { return writeMapped(hostMemFD, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE) }},
	}
	for _, a := range attacks {
		x.result(a.name, a.do())
	}
	if string(seg[:len(evil)]) == string(evil) {
		x.result("DATA CHANGED", syscall.EEXIST)
	}
}

// withReopened calls do with fd 4 reopened read-write, if it can be.
func withReopened(do func(fd int) error) error {
	fd, err := reopen(hostMemFD)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer unix.Close(fd)
	return do(fd)
}

// floodHost names made-up gfids to the host and opens fd's file again
// and again without releasing it.
func (x *hostile) floodHost(c *xlator.Call, fd *xlator.FD) {
	g := x.Graph()
	t := g.Inodes()
	r := rand.New(rand.NewSource(1))
	var failed int
	for i := 0; i < x.flood; i++ {
		var ia xlator.Iatt
		r.Read(ia.Gfid[:])
		ia.Mode = syscall.S_IFREG
		in := t.Link(nil, nil, "", &ia)
		if _, err := x.FirstChild().Stat(c, &xlator.Loc{Inode: in}); err != nil {
			failed++
		}
		in.Unref()
	}
	x.result("stat made-up gfids", fmt.Errorf("%d of %d failed", failed, x.flood))
	for i := 0; ; i++ {
		nfd := g.NewFD(fd.Inode, syscall.O_RDONLY, c.Pid, false)
		if err := x.FirstChild().Open(c, &xlator.Loc{Inode: fd.Inode}, syscall.O_RDONLY, nfd); err != nil {
			nfd.Unref()
			x.result("open without release", fmt.Errorf("%d opened, then %w", i, err))
			return
		}
		x.kept = append(x.kept, nfd)
	}
}

func main() {
	plugin.Serve(xlator.Type{
		Name:        "hostile",
		Doc:         "a plugin that attacks its host, for tests",
		MinChildren: 1,
		MaxChildren: 1,
		Options: xlator.Schema{
			{Name: "mode", Kind: xlator.KindEnum, Enum: []string{"truncate", "scribble", "write-host", "flood"}, Required: true},
			{Name: "report", Kind: xlator.KindString},
			{Name: "marker", Kind: xlator.KindString},
			{Name: "scribble-for", Kind: xlator.KindDuration, Default: "2s"},
			{Name: "flood", Kind: xlator.KindInt, Default: "20000"},
		},
		New: func() xlator.Xlator { return &hostile{} },
	})
}
