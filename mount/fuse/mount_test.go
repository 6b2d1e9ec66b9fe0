package fuse

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestMount runs a POSIX workload through real syscalls on a mounted graph
// and then checks that every fd and iobuf went back.
func TestMount(t *testing.T) {
	variants := []struct {
		chain  []string
		goFuse bool // go-fuse's reader loop instead of conn's (root)
		ring   bool // FUSE over io_uring (root)
	}{{[]string{"mem"}, false, false}, {[]string{"pass", "mem"}, false, false}, {[]string{"mem"}, true, false}, {[]string{"pass", "mem"}, false, true}}
	for _, v := range variants {
		name := "chain=" + strings.Join(v.chain, ",")
		if v.goFuse {
			name += ",loop=go-fuse"
		}
		if v.ring {
			name += ",transport=io-uring"
		}
		t.Run(name, func(t *testing.T) {
			transport := TransportDevFuse
			if v.ring {
				setEnableURing(t, "Y")
				transport = TransportIOUring
			}
			m := mountWith(t, xlatortest.Registry(), func(c *Config) { c.GoFuseLoop, c.Transport = v.goFuse, transport }, v.chain...)
			if st := m.srv.Stats(); st.Transport != transport {
				t.Fatalf("transport %s asked, %s serves (%s)", transport, st.Transport, st.TransportNote)
			}
			if own := m.srv.c != nil; own != (os.Geteuid() == 0 && !v.goFuse) {
				t.Fatalf("served by conn's loop: %v, want it for root unless go-fuse's is asked for", own)
			}
			cases := []struct {
				name string
				run  func(t *testing.T, m *mounted)
			}{
				{"mount-options", testMountOptions},
				{"write-read", testWriteRead},
				{"modes", testModes},
				{"readdir", testReaddir},
				{"rename", testRename},
				{"hardlink", testHardlink},
				{"symlink", testSymlink},
				{"chmod", testChmod},
				{"truncate", testTruncate},
				{"xattr", testXattr},
				{"fallocate", testFallocate},
				{"unlink-open", testUnlinkOpen},
				{"statfs", testStatfs},
				{"names", testNames},
				{"non-root", testNonRoot},
				{"privileges", testPrivileges},
			}
			ran := 0
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { ran++; tc.run(t, m) })
			}
			// Every file is closed: the kernel's RELEASEs (sent
			// asynchronously) bring the graph's fds back to 0, and no
			// iobuf is left held by anyone.
			if !eventually(func() bool { return m.g.FDs().Open == 0 }) {
				t.Errorf("graph fds open after the workload: %+v", m.g.FDs())
			}
			if st := m.g.Env().Iobufs.Stats(); st.Active() != 0 || st.IobrefActive != 0 {
				t.Errorf("iobufs active after the workload: %d iobufs, %d iobrefs", st.Active(), st.IobrefActive)
			}
			st := m.srv.Stats()
			if st.Handles != 0 {
				t.Errorf("bridge handles open: %d", st.Handles)
			}
			if v.ring && (st.Ring == nil || st.Ring.Requests < st.Requests/2) {
				t.Errorf("over io-uring, the rings carried %+v of %d requests", st.Ring, st.Requests)
			}
			if ran == len(cases) { // not when a -run filter chose a few
				for _, op := range []string{"LOOKUP", "CREATE", "WRITE", "READ", "READDIRPLUS", "RENAME", "LINK", "SETXATTR", "FALLOCATE", "STATFS", "RELEASE"} {
					if st.Count(op) == 0 {
						t.Errorf("no %s request counted: %+v", op, st.Ops)
					}
				}
				if st.BytesWritten == 0 || st.BytesRead == 0 {
					t.Errorf("bytes read %d, written %d", st.BytesRead, st.BytesWritten)
				}
			}
			// When the kernel evicts its inodes it FORGETs them: the node
			// ids go and the table holds no kernel lookups any more.
			if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
				t.Logf("cannot drop the kernel's inode cache (%v); FORGET not checked", err)
			} else {
				if !eventually(func() bool { return m.srv.Stats().Nodes == 1 }) {
					t.Errorf("node ids after the kernel dropped its inodes: %d, want the root only", m.srv.Stats().Nodes)
				}
				if m.srv.Stats().Count("FORGET") == 0 {
					t.Error("no FORGET counted")
				}
				if ts := m.g.Inodes().Stats(); ts.Active != 0 {
					t.Errorf("inodes still referenced after every FORGET: %+v", ts)
				}
			}
			if err := m.srv.Unmount(); err != nil {
				t.Fatal(err)
			}
			// Unmounted, the kernel's lookups are gone too.
			if got := m.srv.Stats().Nodes; got != 1 {
				t.Errorf("nodes after unmount: %d, want the root only", got)
			}
		})
	}
}

// testMountOptions reads the kernel's view of the mount.
func testMountOptions(t *testing.T, m *mounted) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("no mountinfo: %v", err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != m.dir {
			continue
		}
		for _, want := range []string{"fuse.xstack", "xstack", "default_permissions", "allow_other", "max_read=1048576"} {
			if !strings.Contains(line, want) {
				t.Errorf("mount lacks %q: %s", want, line)
			}
		}
		// The readahead DefaultConfig asks for (root may set it).
		if os.Geteuid() == 0 {
			p, err := bdiPath(m.dir)
			if err != nil {
				t.Fatal(err)
			}
			ra, err := os.ReadFile(p)
			if err != nil || strings.TrimSpace(string(ra)) != "1024" {
				t.Errorf("%s: %q, %v; want 1024", p, ra, err)
			}
		}
		return
	}
	t.Fatalf("%s not in mountinfo", m.dir)
}

func testWriteRead(t *testing.T, m *mounted) {
	p := m.path("data")
	want := make([]byte, 3<<20+123) // several 1 MiB requests and a tail
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(want)) || fi.Mode().Perm() != 0o644 || !fi.Mode().IsRegular() {
		t.Fatalf("stat: size %d mode %v", fi.Size(), fi.Mode())
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read back differs from what was written")
	}
	// O_DIRECT bypasses the page cache: the data comes from the graph.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n, err := f.ReadAt(buf, 1<<20+5)
	if err != nil || n != len(buf) || !bytes.Equal(buf, want[1<<20+5:2<<20+5]) {
		t.Fatalf("direct read at 1MiB+5: n=%d err=%v equal=%v", n, err, bytes.Equal(buf[:n], want[1<<20+5:1<<20+5+n]))
	}
	// Appending goes to the end.
	a, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if fi, _ := os.Stat(p); fi.Size() != int64(len(want))+4 {
		t.Fatalf("size after append %d", fi.Size())
	}
	// Reopening an unchanged file keeps the page cache; the kernel then
	// does not need to READ again.
	_, _ = os.ReadFile(p)
	before := m.srv.Stats()
	if _, err := os.ReadFile(p); err != nil {
		t.Fatal(err)
	}
	if d := m.srv.Stats().Sub(before); d.Count("READ") != 0 {
		t.Errorf("re-reading an unchanged file sent %d READs; want the page cache kept", d.Count("READ"))
	}
}

func testModes(t *testing.T, m *mounted) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		name        string
		mode, umask uint32
		want        os.FileMode
	}{
		{"m0000", 0, 0, 0},
		{"m0640", 0o640, 0, 0o640},
		{"m0666-umask027", 0o666, 0o027, 0o640},
	} {
		syscall.Umask(int(tc.umask))
		fd, err := syscall.Open(m.path(tc.name), syscall.O_CREAT|syscall.O_WRONLY|syscall.O_EXCL, tc.mode)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		syscall.Close(fd)
		fi, err := os.Stat(m.path(tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.name, fi.Mode().Perm(), tc.want)
		}
	}
	syscall.Umask(0o022)
	if err := os.Mkdir(m.path("dir0777-umask022"), 0o777); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(m.path("dir0777-umask022")); fi.Mode().Perm() != 0o755 || !fi.IsDir() {
		t.Errorf("mkdir mode %v", fi.Mode())
	}
	if err := syscall.Mknod(m.path("fifo"), syscall.S_IFIFO|0o666, 0); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(m.path("fifo")); fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o644 {
		t.Errorf("mknod fifo mode %v", fi.Mode())
	}
}

func testReaddir(t *testing.T, m *mounted) {
	d := m.path("many")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	want := make([]string, 500)
	for i := range want {
		want[i] = fmt.Sprintf("file-with-a-longish-name-%04d", i)
		if err := os.WriteFile(filepath.Join(d, want[i]), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := m.srv.Stats()
	f, err := os.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("readdir gave %d names, want 500 distinct ones", len(names))
	}
	if d := m.srv.Stats().Sub(before); d.Count("READDIR")+d.Count("READDIRPLUS") < 2 {
		t.Errorf("500 entries came in %d batches; want several", d.Count("READDIR")+d.Count("READDIRPLUS"))
	}
	// "." and ".." are listed, once.
	ents, err := unixReaddirAll(d)
	if err != nil {
		t.Fatal(err)
	}
	if ents["."] != 1 || ents[".."] != 1 || len(ents) != 502 {
		t.Errorf("raw listing: . %d, .. %d, %d names", ents["."], ents[".."], len(ents))
	}
}

// unixReaddirAll lists a directory with getdents, "." and ".." included,
// counting each name.
func unixReaddirAll(dir string) (map[string]int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	out := map[string]int{}
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		var names []string
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
		for _, nm := range names {
			out[nm]++
		}
		// ParseDirent skips "." and ".."; count them from the raw records.
		for off := 0; off < n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			name := buf[off+19 : off+reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s == "." || s == ".." {
				out[s]++
			}
			off += reclen
		}
	}
}

func testRename(t *testing.T, m *mounted) {
	a, b, c := m.path("ren-a"), m.path("ren-b"), m.path("ren-c")
	for p, s := range map[string]string{a: "A", b: "B", c: "C"} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(a, b); err != nil { // over an existing file
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(b); string(got) != "A" {
		t.Errorf("after rename over: %q", got)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("old name still there: %v", err)
	}
	err := unix.Renameat2(unix.AT_FDCWD, b, unix.AT_FDCWD, c, unix.RENAME_NOREPLACE)
	if !errors.Is(err, syscall.EEXIST) {
		t.Errorf("RENAME_NOREPLACE over an existing file: %v, want EEXIST", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, b, unix.AT_FDCWD, m.path("ren-d"), unix.RENAME_NOREPLACE); err != nil {
		t.Errorf("RENAME_NOREPLACE to a new name: %v", err)
	}
	if err := os.Mkdir(m.path("ren-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.path("ren-d"), m.path("ren-dir/moved")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(m.path("ren-dir/moved")); string(got) != "A" {
		t.Errorf("moved file reads %q", got)
	}
}

func testHardlink(t *testing.T, m *mounted) {
	p, q := m.path("hl"), m.path("hl2")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st0 syscall.Stat_t
	if err := syscall.Stat(p, &st0); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, q); err != nil {
		t.Fatal(err)
	}
	var st1, st2 syscall.Stat_t
	if err := syscall.Stat(p, &st1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(q, &st2); err != nil {
		t.Fatal(err)
	}
	if st1.Ino != st2.Ino || st1.Ino != st0.Ino {
		t.Errorf("st_ino: before %d, name1 %d, name2 %d", st0.Ino, st1.Ino, st2.Ino)
	}
	if st1.Nlink != 2 || st2.Nlink != 2 {
		t.Errorf("nlink %d/%d, want 2", st1.Nlink, st2.Nlink)
	}
}

func testSymlink(t *testing.T, m *mounted) {
	if err := os.WriteFile(m.path("target"), []byte("through the link"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target", m.path("link")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(m.path("link")); err != nil || got != "target" {
		t.Fatalf("readlink %q %v", got, err)
	}
	if fi, _ := os.Lstat(m.path("link")); fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("lstat mode %v", fi.Mode())
	}
	if got, _ := os.ReadFile(m.path("link")); string(got) != "through the link" {
		t.Errorf("read through the link %q", got)
	}
}

func testChmod(t *testing.T, m *mounted) {
	p := m.path("chmod")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o600, 0o000, 0o755 | os.ModeSetgid} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode()&(os.ModePerm|os.ModeSetgid) != mode {
			t.Errorf("chmod %v: mode %v", mode, fi.Mode())
		}
	}
	if err := os.Chown(p, 123, 456); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	_ = syscall.Stat(p, &st)
	if st.Uid != 123 || st.Gid != 456 {
		t.Errorf("chown: %d:%d", st.Uid, st.Gid)
	}
	ts := []unix.Timespec{{Sec: 1000, Nsec: 5}, {Sec: 2000, Nsec: 7}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, 0); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Stat(p, &st)
	if st.Atim.Sec != 1000 || st.Mtim.Sec != 2000 || st.Mtim.Nsec != 7 {
		t.Errorf("utimes: atime %v mtime %v", st.Atim, st.Mtim)
	}
}

func testTruncate(t *testing.T, m *mounted) {
	p := m.path("trunc")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 4); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "0123" {
		t.Errorf("after shrink %q", got)
	}
	if err := os.Truncate(p, 8); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "0123\x00\x00\x00\x00" {
		t.Errorf("after grow %q", got)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(2); err != nil { // through the open file
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != 2 {
		t.Errorf("ftruncate: size %d", fi.Size())
	}
	if err := os.WriteFile(p, []byte("new"), 0o644); err != nil { // O_TRUNC
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new" {
		t.Errorf("after O_TRUNC rewrite %q", got)
	}
}

func testXattr(t *testing.T, m *mounted) {
	p := m.path("xattr")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.color", []byte("red"), unix.XATTR_CREATE); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("XATTR_CREATE over an existing one: %v", err)
	}
	if n, err := unix.Getxattr(p, "user.color", nil); err != nil || n != 4 { // size probe
		t.Errorf("size probe: %d %v", n, err)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(p, "user.color", buf); err != nil || string(buf[:n]) != "blue" {
		t.Errorf("getxattr %q %v", buf[:n], err)
	}
	if _, err := unix.Getxattr(p, "user.color", make([]byte, 2)); !errors.Is(err, syscall.ERANGE) {
		t.Errorf("getxattr into a short buffer: %v, want ERANGE", err)
	}
	if err := unix.Setxattr(p, "trusted.xstack.gfid", []byte("x"), 0); !errors.Is(err, syscall.EPERM) {
		t.Errorf("setxattr trusted.xstack.*: %v, want EPERM", err)
	}
	if _, err := unix.Getxattr(p, "trusted.xstack.gfid", buf); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("getxattr trusted.xstack.*: %v, want ENODATA", err)
	}
	if err := unix.Removexattr(p, "trusted.xstack.gfid"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("removexattr trusted.xstack.*: %v, want EPERM", err)
	}
	if err := unix.Setxattr(p, "user.shape", []byte("round"), 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.Listxattr(p, buf)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	if strings.Join(names, ",") != "user.color,user.shape" {
		t.Errorf("listxattr %q", names)
	}
	if err := unix.Removexattr(p, "user.color"); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Getxattr(p, "user.color", buf); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("getxattr after remove: %v", err)
	}
}

func testFallocate(t *testing.T, m *mounted) {
	p := m.path("falloc")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, 8192); err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != 8192 {
		t.Errorf("size after fallocate %d", fi.Size())
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{'z'}, 8192), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8192)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:4096], make([]byte, 4096)) || got[4096] != 'z' {
		t.Errorf("punched hole reads %q… %q", got[:4], got[4096:4100])
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != 8192 {
		t.Errorf("size after keep-size fallocate %d", fi.Size())
	}
}

func testUnlinkOpen(t *testing.T, m *mounted) {
	p := m.path("unlinked")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("stat after unlink: %v", err)
	}
	got := make([]byte, 10)
	n, err := f.ReadAt(got, 0)
	switch {
	case err == nil && string(got[:n]) == "still here":
		// Served, from the page cache or the graph.
	case errnoOf(err) == syscall.ESTALE:
		// mem drops a file's data at its last unlink: no open-unlinked
		// files there (posix keeps them).
		t.Logf("mem does not keep unlinked open files: %v", err)
	default:
		t.Errorf("read after unlink: %q %v", got[:n], err)
	}
}

func testStatfs(t *testing.T, m *mounted) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks != 1<<20 || st.Bsize != 4096 || st.Namelen != 255 || st.Bfree != 1<<19 {
		t.Errorf("statfs %+v", st)
	}
}

func testNames(t *testing.T, m *mounted) {
	long := strings.Repeat("n", 256)
	if err := os.WriteFile(m.path(long), nil, 0o644); errnoOf(err) != syscall.ENAMETOOLONG {
		t.Errorf("create with a 256-byte name: %v, want ENAMETOOLONG", err)
	}
	ok := strings.Repeat("n", 255)
	if err := os.WriteFile(m.path(ok), nil, 0o644); err != nil {
		t.Errorf("create with a 255-byte name: %v", err)
	}
}

// testNonRoot runs helpers as nobody: default_permissions denies a 0600
// root file and allows a 0644 one (allow_other lets nobody in at all).
func testNonRoot(t *testing.T, m *mounted) {
	secret, public := m.path("secret"), m.path("public")
	if err := os.WriteFile(secret, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, []byte("p"), 0o644); err != nil {
		t.Fatal(err)
	}
	asNobody := func(script string) (string, error) {
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := asNobody("cat " + public); err != nil || out != "p" {
		t.Fatalf("nobody reading a 0644 file: %q %v", out, err)
	}
	out, err := asNobody("cat " + secret)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("nobody reading a 0600 root file: %q %v; want Permission denied", out, err)
	}
	out, err = asNobody("touch " + m.path("by-nobody"))
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("nobody creating in a 0755 root directory: %q %v; want Permission denied", out, err)
	}
}

// testPrivileges: writes, truncates and chowns drop set-ID bits and file
// capabilities as a kernel file system does, with no GETXATTR
// security.capability round trip per write (FUSE_HANDLE_KILLPRIV_V2).
func testPrivileges(t *testing.T, m *mounted) {
	if !m.srv.b.killPriv {
		t.Skip("the kernel did not agree to FUSE_HANDLE_KILLPRIV_V2 (Linux >= 5.11 needed)")
	}
	mode := func(name string) uint32 {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Stat(m.path(name), &st); err != nil {
			t.Fatal(err)
		}
		return st.Mode & 0o7777
	}
	mk := func(name string, perm uint32) {
		t.Helper()
		if err := os.WriteFile(m.path(name), []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(m.path(name), perm); err != nil {
			t.Fatal(err)
		}
		if got := mode(name); got != perm {
			t.Fatalf("%s: mode %o after chmod %o", name, got, perm)
		}
	}
	asNobody := func(script string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("as nobody: %s: %v %s", script, err, out)
		}
	}
	// An unprivileged write clears suid, and sgid with group execute.
	mk("setid", 0o6777)
	asNobody("printf x >> " + m.path("setid"))
	if got := mode("setid"); got != 0o777 {
		t.Errorf("after a write by nobody: mode %o, want 777", got)
	}
	// sgid without group execute (mandatory locking) stays.
	mk("sgid-noexec", 0o2666)
	asNobody("printf x >> " + m.path("sgid-noexec"))
	if got := mode("sgid-noexec"); got != 0o2666 {
		t.Errorf("sgid without group execute after a write by nobody: mode %o, want 2666", got)
	}
	// Truncation by open(O_TRUNC) by nobody.
	mk("trunc", 0o4777)
	asNobody(": > " + m.path("trunc"))
	if got := mode("trunc"); got != 0o777 {
		t.Errorf("after O_TRUNC by nobody: mode %o, want 777", got)
	}
	// Root keeps the bits when writing (CAP_FSETID) ...
	mk("root-write", 0o4755)
	f, err := os.OpenFile(m.path("root-write"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := mode("root-write"); got != 0o4755 {
		t.Errorf("after a write by root: mode %o, want 4755", got)
	}
	// ... but not when changing the owner.
	if err := os.Chown(m.path("root-write"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if got := mode("root-write"); got != 0o755 {
		t.Errorf("after chown: mode %o, want 755", got)
	}
	// A file capability goes with any write, root's too. The value is a
	// VFS_CAP_REVISION_2 set holding cap_net_raw.
	capv := []byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := os.WriteFile(m.path("capped"), []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(m.path("capped"), capabilityXattr, capv, 0); err != nil {
		t.Fatalf("setting security.capability: %v", err)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(m.path("capped"), capabilityXattr, buf); err != nil || n != len(capv) {
		t.Fatalf("security.capability reads back %d bytes, %v", n, err)
	}
	f, err = os.OpenFile(m.path("capped"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("B"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := unix.Getxattr(m.path("capped"), capabilityXattr, buf); err != unix.ENODATA {
		t.Errorf("security.capability after a write: %v, want ENODATA", err)
	}
	// And the kernel no longer asks before every write: once, then it marks
	// the inode S_NOSEC.
	f, err = os.OpenFile(m.path("plain"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := m.srv.Stats().Count("GETXATTR")
	for i := 0; i < 100; i++ {
		if _, err := f.WriteAt([]byte("x"), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.srv.Stats().Count("GETXATTR") - before; got > 1 {
		t.Errorf("%d GETXATTR requests during 100 writes, want at most 1", got)
	}
}

// TestMountPointChecks refuses bad mount points with errors naming them.
func TestMountPointChecks(t *testing.T) {
	requireFuse(t)
	g := mountChain(t, "mem").g

	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "precious"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(full, "precious")
	busy := mountChain(t, "mem").dir
	for _, tc := range []struct {
		name, dir string
		is        error
		words     []string
	}{
		{"not empty", full, ErrMountPointNotEmpty, []string{full, "precious"}},
		{"busy", busy, ErrMountPointBusy, []string{busy}},
		{"missing", filepath.Join(full, "nope"), nil, []string{"nope", "no such file"}},
		{"not a dir", file, nil, []string{file, "not a directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := Mount(g, DefaultConfig(tc.dir))
			if err == nil {
				_ = srv.Unmount()
				t.Fatal("mounted")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
