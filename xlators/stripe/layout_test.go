package stripe

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// newObservedEnv is newEnv with every log line of the graph recorded.
func newObservedEnv(t *testing.T, n int, opts xlator.Options) (*env, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	genv := xlatortest.NewEnv(t)
	genv.Logger = zap.New(core)
	g := xlatortest.Start(t, stripeSpec(n, opts), registry(), genv)
	return &env{t: t, g: g, s: xlator.Unwrap(g.Top()).(*Stripe), n: n}, logs
}

// setGeometryXattr sets (v != "") or removes (v == "") key on mem child i
// of the file in, behind stripe's back.
func (e *env) setGeometryXattr(i int, in *xlator.Inode, key, v string) {
	e.t.Helper()
	c := e.call(xlator.FopSetxattr)
	defer c.Done()
	loc := &xlator.Loc{Inode: in}
	var err error
	if v == "" {
		err = e.mem(i).Removexattr(c, loc, key)
	} else {
		err = e.mem(i).Setxattr(c, loc, key, []byte(v), 0)
	}
	if err != nil {
		e.t.Fatalf("m%d: set %s to %q: %v", i, key, v, err)
	}
}

// childXattr reads key of in on mem child i ("" when absent).
func (e *env) childXattr(i int, in *xlator.Inode, key string) string {
	e.t.Helper()
	c := e.call(xlator.FopGetxattr)
	defer c.Done()
	v, err := e.mem(i).Getxattr(c, &xlator.Loc{Inode: in}, key)
	if errors.Is(err, syscall.ENODATA) {
		return ""
	}
	if err != nil {
		e.t.Fatalf("m%d: get %s: %v", i, key, err)
	}
	return string(v)
}

// oneLine checks that logs holds exactly one line since the last call, an
// error about a layout problem of kind (0: any) on path naming every
// child with the given words, and takes it.
func oneLine(t *testing.T, logs *observer.ObservedLogs, what string, kind Kind, path string, holds []string) {
	t.Helper()
	lines := logs.TakeAll()
	if len(lines) != 1 {
		var msgs []string
		for _, l := range lines {
			msgs = append(msgs, l.Message)
		}
		t.Errorf("%s: %d log lines, want 1: %q", what, len(lines), msgs)
		return
	}
	l := lines[0]
	ctx := l.ContextMap()
	if l.Level != zapcore.ErrorLevel || (kind != 0 && !strings.Contains(l.Message, kind.String())) || ctx["path"] != path {
		t.Errorf("%s: logged %s %q %v, want an error about %q on %s", what, l.Level, l.Message, ctx, kind, path)
	}
	children := fmt.Sprint(ctx["children"])
	for _, h := range holds {
		if !strings.Contains(children, h) {
			t.Errorf("%s: the log line's children %s do not say %q", what, children, h)
		}
	}
}

// TestGeometryNeverGuessed: a file whose geometry xattr is missing on some
// or all children, differs between them, cannot be parsed, is made for
// another number of children, or cannot be read fails lookup, stat, open
// and read with EIO, each with one log line naming the file and what every
// child holds; nothing is written back to the children.
func TestGeometryNeverGuessed(t *testing.T) {
	const good = "block-size=16384 count=2 coalesce=0"
	cases := []struct {
		name  string
		set   [2]string // the children's xattrs afterwards ("": removed)
		fail  syscall.Errno
		kind  Kind
		holds []string // words the log line's children must contain
	}{
		{"missing on one child", [2]string{good, ""}, 0, KindGeometryMissing,
			[]string{`c0: trusted.xstack.stripe="` + good, "c1: no trusted.xstack.stripe or user.xstack.stripe"}},
		{"missing on every child", [2]string{"", ""}, 0, KindGeometryMissing,
			[]string{"c0: no trusted.xstack.stripe", "c1: no trusted.xstack.stripe"}},
		{"block size differs", [2]string{good, "block-size=32768 count=2 coalesce=0"}, 0, KindGeometryDiffers,
			[]string{"c0: trusted.xstack.stripe=\"block-size=16384", "c1: trusted.xstack.stripe=\"block-size=32768"}},
		{"coalesce differs", [2]string{good, "block-size=16384 count=2 coalesce=1"}, 0, KindGeometryDiffers,
			[]string{"c1: trusted.xstack.stripe=\"block-size=16384 count=2 coalesce=1"}},
		{"unreadable", [2]string{good, "block-size=lots"}, 0, KindGeometryUnreadable,
			[]string{"c0: trusted.xstack.stripe=", "c1: trusted.xstack.stripe unreadable", "lots"}},
		{"another child count", [2]string{"block-size=16384 count=3 coalesce=0", "block-size=16384 count=3 coalesce=0"}, 0,
			KindGeometryCount, []string{"c0: trusted.xstack.stripe=\"block-size=16384 count=3", "c1: "}},
		{"getxattr fails on a child", [2]string{good, good}, syscall.EACCES, KindChildError,
			[]string{"c0: trusted.xstack.stripe=", "c1: error: permission denied"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, logs := newObservedEnv(t, 2, options(kb16, false))
			in, fd := e.mustCreate("f")
			e.mustWrite(fd, 0, bytes.Repeat([]byte("0123456789abcdef"), 3*kb16/16+1))
			for i, v := range tc.set {
				e.setGeometryXattr(i, in, XattrKey, v)
			}
			e.shim(1).setFail(xlator.FopGetxattr, tc.fail)
			in.DelCtx(e.s) // as after a restart: the geometry is read again
			logs.TakeAll()

			fops := []struct {
				name string
				run  func() error
			}{
				{"lookup", func() error { _, _, err := e.lookup(nil, "f"); return err }},
				{"stat", func() error { _, err := e.stat(in); return err }},
				{"open", func() error {
					ofd := e.g.NewFD(in, syscall.O_RDWR|syscall.O_TRUNC, 1, false)
					defer ofd.Unref()
					c := e.call(xlator.FopOpen)
					defer c.Done()
					return e.g.Top().Open(c, &xlator.Loc{Inode: in}, syscall.O_RDWR|syscall.O_TRUNC, ofd)
				}},
				{"read", func() error { _, err := e.read(fd, 0, 100); return err }},
				{"write", func() error { _, err := e.write(fd, 0, []byte("x")); return err }},
			}
			for _, f := range fops {
				if err := f.run(); !errors.Is(err, syscall.EIO) {
					t.Errorf("%s: %v, want EIO", f.name, err)
				}
				oneLine(t, logs, f.name, tc.kind, "/f", tc.holds)
			}
			e.shim(1).setFail(xlator.FopGetxattr, 0)
			for i, want := range tc.set {
				if got := e.childXattr(i, in, XattrKey); got != want {
					t.Errorf("m%d: %s is now %q, was %q: stripe wrote to it", i, XattrKey, got, want)
				}
				if got := e.childXattr(i, in, XattrKeyUser); got != "" {
					t.Errorf("m%d: stripe wrote %s = %q", i, XattrKeyUser, got)
				}
			}
			if sizes := e.childSizes(in); sizes[0] == 0 || sizes[1] == 0 {
				t.Errorf("child sizes %v: the refused open with O_TRUNC cut the file", sizes)
			}
			if st := e.s.Stats(); st.Inconsistent != uint64(len(fops)) {
				t.Errorf("%d inconsistent fops counted, want %d", st.Inconsistent, len(fops))
			}
		})
	}
}

// TestGeometryEitherKey: children that keep the geometry under different
// keys (a brick written by an unprivileged stack, the other by a
// privileged one) hold the same geometry; missing under the user key is
// reported naming both keys.
func TestGeometryEitherKey(t *testing.T) {
	e, logs := newObservedEnv(t, 2, options(kb16, false))
	in, fd := e.mustCreate("f")
	data := bytes.Repeat([]byte("xyz"), 20000)
	e.mustWrite(fd, 0, data)
	v := e.childXattr(1, in, XattrKey)
	e.setGeometryXattr(1, in, XattrKeyUser, v)
	e.setGeometryXattr(1, in, XattrKey, "")
	in.DelCtx(e.s)
	if got := e.mustRead(fd, 0, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("read with the geometry under two keys differs at %d", firstDiff(got, data))
	}

	// Unprivileged children: the geometry lives under the user key only.
	u, logsU := newObservedEnv(t, 2, options(kb16, false))
	for i := range 2 {
		u.shim(i).refuseTrusted.Store(true)
	}
	uin, _ := u.mustCreate("g")
	u.setGeometryXattr(0, uin, XattrKeyUser, "")
	uin.DelCtx(u.s)
	logsU.TakeAll()
	if _, err := u.stat(uin); !errors.Is(err, syscall.EIO) {
		t.Errorf("stat with the user key missing on a child: %v", err)
	}
	oneLine(t, logsU, "stat", KindGeometryMissing, "/g",
		[]string{"c0: no trusted.xstack.stripe or user.xstack.stripe", `c1: user.xstack.stripe="block-size=16384`})
	if n := logs.Len(); n != 0 {
		t.Errorf("%d lines logged for a file whose children use different keys", n)
	}
}

// TestEntryFopsWhileLookingUp runs creates, renames and unlinks while
// other goroutines look the same names up, stat them and list the
// directory, with the last child slowed so the children differ for a
// while in every entry fop: no lookup or stat may fail with EIO, nothing
// may be logged or counted as inconsistent.
func TestEntryFopsWhileLookingUp(t *testing.T) {
	e, logs := newObservedEnv(t, 3, options(kb16, false))
	for _, f := range []xlator.Fop{xlator.FopCreate, xlator.FopSetxattr, xlator.FopUnlink, xlator.FopRename, xlator.FopMkdir} {
		e.shim(2).setDelay(f, 300*time.Microsecond)
	}
	const files = 25
	var done atomic.Bool
	var wg sync.WaitGroup
	problems := make(chan string, 100)
	tab := e.g.Inodes()
	wg.Go(func() {
		defer done.Store(true)
		top := e.g.Top()
		for i := range files {
			in, _, err := e.create(nil, fmt.Sprintf("f%d", i))
			if err != nil {
				problems <- fmt.Sprintf("create f%d: %v", i, err)
				return
			}
			c := e.call(xlator.FopRename)
			err = top.Rename(c, &xlator.Loc{Parent: e.root(), Name: fmt.Sprintf("f%d", i), Inode: in},
				&xlator.Loc{Parent: e.root(), Name: fmt.Sprintf("g%d", i)}, 0)
			if err == nil {
				tab.Rename(e.root(), fmt.Sprintf("f%d", i), e.root(), fmt.Sprintf("g%d", i))
				if i%2 == 0 {
					err = top.Unlink(c, &xlator.Loc{Parent: e.root(), Name: fmt.Sprintf("g%d", i), Inode: in})
				}
			}
			if i%5 == 0 && err == nil {
				_, err = top.Mkdir(c, &xlator.Loc{Parent: e.root(), Name: fmt.Sprintf("d%d", i)}, 0o755, 0)
			}
			c.Done()
			if err != nil {
				problems <- fmt.Sprintf("rename/unlink/mkdir %d: %v", i, err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			top := e.g.Top()
			for !done.Load() {
				for i := range files {
					for _, name := range []string{fmt.Sprintf("f%d", i), fmt.Sprintf("g%d", i), fmt.Sprintf("d%d", i)} {
						in := tab.New()
						c := e.call(xlator.FopLookup)
						ia, err := top.Lookup(c, &xlator.Loc{Parent: e.root(), Name: name, Inode: in})
						if err == nil {
							linked := tab.Link(in, e.root(), name, &ia)
							_, err = top.Stat(c, &xlator.Loc{Inode: linked})
							linked.Unref()
						}
						c.Done()
						in.Unref()
						if err != nil && !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ESTALE) {
							problems <- fmt.Sprintf("lookup/stat %s: %v", name, err)
						}
					}
				}
				dfd := e.g.NewFD(e.root(), 0, 1, true)
				c := e.call(xlator.FopReaddir)
				if err := top.Opendir(c, &xlator.Loc{Inode: e.root()}, dfd); err == nil {
					if _, err := top.Readdir(c, dfd, 0, 1000, true); err != nil {
						problems <- fmt.Sprintf("readdirplus: %v", err)
					}
				}
				c.Done()
				dfd.Unref()
			}
		})
	}
	wg.Wait()
	close(problems)
	for p := range problems {
		t.Error(p)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d error lines logged, first %q", n, logs.FilterLevelExact(zapcore.ErrorLevel).All()[0].ContextMap())
	}
	if st := e.s.Stats(); st.Inconsistent != 0 || st.Divergences != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestReaddirAgreesWithLookup: readdir lists every name any child has,
// and readdirplus gives an entry attributes exactly when lookup accepts
// it, the attributes lookup gives; stat of a file that became
// inconsistent fails as its lookup does. Only the lookups log.
func TestReaddirAgreesWithLookup(t *testing.T) {
	e, logs := newObservedEnv(t, 2, options(kb16, false))
	top := e.g.Top()
	c := e.call(xlator.FopMknod)
	defer c.Done()
	root := e.root()
	mk := func(i int, name string, mode uint32) {
		t.Helper()
		var err error
		if mode&syscall.S_IFMT == syscall.S_IFDIR {
			_, err = e.mem(i).Mkdir(c, &xlator.Loc{Parent: root, Name: name}, mode&0o777, 0)
		} else {
			_, err = e.mem(i).Mknod(c, &xlator.Loc{Parent: root, Name: name}, mode, 0, 0)
		}
		if err != nil {
			t.Fatalf("m%d %s: %v", i, name, err)
		}
	}

	// Healthy entries, made through stripe.
	_, fd := e.mustCreate("file")
	e.mustWrite(fd, 0, make([]byte, 2*kb16+3))
	if _, err := top.Mkdir(c, &xlator.Loc{Parent: root, Name: "dir"}, 0o755, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := top.Symlink(c, "file", &xlator.Loc{Parent: root, Name: "link"}, 0); err != nil {
		t.Fatal(err)
	}
	// Damaged ones: made or changed behind stripe's back.
	mk(0, "only0", syscall.S_IFREG|0o644)
	mk(1, "only1", syscall.S_IFREG|0o644)
	mk(0, "types", syscall.S_IFREG|0o644)
	mk(1, "types", syscall.S_IFDIR|0o755)
	mk(0, "gfids", syscall.S_IFDIR|0o755)
	mk(1, "gfids", syscall.S_IFDIR|0o755)
	nogeo, _ := e.mustCreate("nogeo")
	e.setGeometryXattr(1, nogeo, XattrKey, "")
	nogeo.DelCtx(e.s)
	if _, err := top.Mkdir(c, &xlator.Loc{Parent: root, Name: "halfdir"}, 0o755, 0); err != nil {
		t.Fatal(err)
	}
	halfdir, _, err := e.lookup(nil, "halfdir") // linked while healthy
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mem(1).Rmdir(c, &xlator.Loc{Parent: root, Name: "halfdir"}); err != nil {
		t.Fatal(err)
	}
	healthy := map[string]bool{"file": true, "dir": true, "link": true}
	damaged := map[string]bool{"only0": true, "only1": true, "types": true, "gfids": true, "nogeo": true, "halfdir": true}

	// Stat of linked inodes that became inconsistent fails as lookup does.
	logs.TakeAll()
	for _, in := range []*xlator.Inode{nogeo, halfdir} {
		if _, err := e.stat(in); !errors.Is(err, syscall.EIO) {
			t.Errorf("stat of %s: %v, want EIO", in.Path(), err)
		}
		oneLine(t, logs, "stat "+in.Path(), 0, in.Path(), nil)
	}

	for _, plus := range []bool{false, true} {
		dfd := e.g.NewFD(root, 0, 1, true)
		if err := top.Opendir(c, &xlator.Loc{Inode: root}, dfd); err != nil {
			t.Fatal(err)
		}
		var ents []xlator.Dirent
		for off := int64(0); ; { // two at a time: the cookies page through the union
			page, err := top.Readdir(c, dfd, off, 2, plus)
			if err != nil {
				t.Fatalf("readdir plus=%v: %v", plus, err)
			}
			if len(page) == 0 {
				break
			}
			ents = append(ents, page...)
			off = page[len(page)-1].Off
		}
		dfd.Unref()
		if n := logs.Len(); n != 0 {
			t.Errorf("readdir plus=%v logged %d lines", plus, n)
			logs.TakeAll()
		}
		listed := map[string]bool{}
		for _, d := range ents {
			if listed[d.Name] {
				t.Errorf("plus=%v: %s listed twice", plus, d.Name)
			}
			listed[d.Name] = true
		}
		for name := range healthy {
			if !listed[name] {
				t.Errorf("plus=%v: %s not listed", plus, name)
			}
		}
		for name := range damaged {
			if !listed[name] {
				t.Errorf("plus=%v: %s, present on some child, not listed", plus, name)
			}
		}
		if !plus {
			continue
		}
		for _, d := range ents {
			_, ia, err := e.lookup(nil, d.Name)
			switch {
			case err == nil && d.Attr != ia:
				t.Errorf("%s: readdirplus gives %+v, lookup %+v", d.Name, d.Attr, ia)
			case err == nil && damaged[d.Name]:
				t.Errorf("lookup of the damaged %s succeeded", d.Name)
			case err != nil && !errors.Is(err, syscall.EIO):
				t.Errorf("lookup of %s: %v", d.Name, err)
			case err != nil && !d.Attr.Gfid.IsZero():
				t.Errorf("%s: readdirplus gives attributes %+v, lookup fails with %v", d.Name, d.Attr, err)
			case err != nil && healthy[d.Name]:
				t.Errorf("lookup of the healthy %s: %v", d.Name, err)
			}
			if err != nil {
				oneLine(t, logs, "lookup "+d.Name, 0, "/"+d.Name, []string{"c0: ", "c1: "})
			}
		}
	}
}
