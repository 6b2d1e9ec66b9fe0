package transport

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/xlator"
)

// The tests of this file hold the protocol to its one description
// (layout.go, handshake.go) and PROTOCOL.md to the code.

var update = flag.Bool("update", false, "rewrite the generated tables of PROTOCOL.md from the code")

// TestRingMethodTable: the ring's method numbers and the generated gRPC
// service agree. Every unary method of the Xlator service but Readv and
// Writev (which have ops of their own) has a number; every number names
// a method of the service; numbers are unique and not 0; the methods the
// rings serve are the service's own handlers, found by name, not by
// their place in the service.
func TestRingMethodTable(t *testing.T) {
	svc := pb.Xlator_ServiceDesc
	if len(svc.Streams) != 0 {
		t.Errorf("the Xlator service has streams, which the rings cannot carry: %v", svc.Streams)
	}
	byName := map[string]ringMethodID{}
	byID := map[uint32]string{}
	next := uint32(1)
	for _, d := range ringMethodIDs {
		if d.id == 0 {
			t.Errorf("method %s has number 0, which means none", d.name)
		}
		if other, ok := byID[d.id]; ok {
			t.Errorf("methods %s and %s share number %d", other, d.name, d.id)
		}
		if _, ok := byName[d.name]; ok {
			t.Errorf("method %s has two numbers", d.name)
		}
		byID[d.id], byName[d.name] = d.name, d
		next = max(next, d.id+1)
	}
	handlers := map[string]bool{}
	for _, m := range svc.Methods {
		handlers[m.MethodName] = true
		_, ok := byName[m.MethodName]
		switch {
		case m.MethodName == "Readv" || m.MethodName == "Writev":
			if ok {
				t.Errorf("%s has a ring method number: it has an op of its own", m.MethodName)
			}
		case !ok:
			t.Errorf("method %s of the Xlator service has no ring method number: give it the next free one, %d, "+
				"in layout.go's ringMethodIDs, with a new ProtocolVersion (never renumber another)", m.MethodName, next)
		}
	}
	for _, d := range ringMethodIDs {
		if !handlers[d.name] {
			t.Errorf("ring method %d names %s, which the Xlator service does not have", d.id, d.name)
			continue
		}
		m := ringMethods[d.id-1]
		if m.name != d.name || m.handler == nil || m.retry != d.retry || ringMethodIdx[xlatorPrefix+d.name] != d.id {
			t.Errorf("ring method %d: served as %q (handler %v, retry %v), indexed as %d; want %s",
				d.id, m.name, m.handler != nil, m.retry, ringMethodIdx[xlatorPrefix+d.name], d.name)
		}
	}
}

// TestLayoutProtocol4: the shared memory and the ring method numbers are
// exactly protocol 4's, the oldest version this host serves
// (MinProtocolVersion): a plugin built against it reads and writes the
// same bytes. A change here breaks every protocol 4 plugin: it needs a
// new ProtocolVersion and MinProtocolVersion past 4, and this test's
// tables then describe the new oldest version.
func TestLayoutProtocol4(t *testing.T) {
	if MinProtocolVersion != 4 {
		t.Fatalf("MinProtocolVersion is %d: this test holds protocol 4's layout", MinProtocolVersion)
	}
	type field struct {
		name      string
		off, size uintptr
	}
	check := func(v any, size uintptr, want []field) {
		t.Helper()
		rt := reflect.TypeOf(v)
		var got []field
		for i := range rt.NumField() {
			f := rt.Field(i)
			got = append(got, field{f.Name, f.Offset, f.Type.Size()})
		}
		if !slices.Equal(got, want) || rt.Size() != size {
			t.Errorf("%s: %d bytes, fields %v\nprotocol 4: %d bytes, fields %v", rt.Name(), rt.Size(), got, size, want)
		}
	}
	check(ringHead{}, 24, []field{{"seq", 0, 4}, {"sleepers", 4, 4}, {"spinners", 8, 4}, {"ready", 12, 4},
		{"hostMem", 16, 4}, {"waiters", 20, 4}})
	check(callState{}, 64, []field{{"v", 0, 4}, {"_", 4, 60}})
	check(callHdr{}, 280, []field{{"op", 0, 4}, {"child", 4, 4}, {"uid", 8, 4}, {"gid", 12, 4}, {"pid", 16, 4},
		{"ngroups", 20, 4}, {"fdType", 24, 4}, {"fdFlags", 28, 4}, {"fdPid", 32, 4}, {"fdDir", 36, 4},
		{"dslot", 40, 4}, {"dlen", 44, 4}, {"errno", 48, 4}, {"rslot", 52, 4}, {"rlen", 56, 4}, {"dkind", 60, 4},
		{"rflags", 64, 4}, {"unique", 72, 8}, {"fdHandle", 80, 8}, {"fdInode", 88, 8}, {"size", 96, 8},
		{"off", 104, 8}, {"n", 112, 8}, {"doff", 120, 8}, {"dtoken", 128, 8}, {"gfid", 136, 16},
		{"groups", 152, 96}, {"parent", 248, 4}, {"chain", 256, 8}, {"method", 264, 4}, {"code", 268, 4},
		{"rkind", 272, 4}})
	check(ringCall{}, 4096, []field{{"callHdr", 0, 280}, {"msg", 280, 3816}})

	consts := []struct {
		name      string
		got, want uint64
	}{
		{"ringOff", ringOff, 4096}, {"maxSlots", maxSlots, 1024}, {"ringCalls", ringCalls, 64},
		{"ringCallSize", ringCallSize, 4096}, {"ringHeadSize", ringHeadSize, 64}, {"ringStatesOff", ringStatesOff, 4096},
		{"ringCallsOff", ringCallsOff, 8192}, {"ringSize", ringSize, 270336}, {"shmHeader", shmHeader, 544768},
		{"ShmSlotSize", ShmSlotSize, 1 << 20}, {"ringGroups", ringGroups, 24}, {"ringMagic", ringMagic, 0x78737231},
		{"ToPlugin", ToPlugin, 0}, {"ToHost", ToHost, 1},
		{"callFree", uint64(callFree), 0}, {"callFilling", uint64(callFilling), 1}, {"callPosted", uint64(callPosted), 2},
		{"callTaken", uint64(callTaken), 3}, {"callDone", uint64(callDone), 4}, {"callAbandoned", uint64(callAbandoned), 5},
		{"callSleep", uint64(callSleep), 1 << 31},
		{"opReadv", uint64(opReadv), 1}, {"opWritev", uint64(opWritev), 2}, {"opRelease", uint64(opRelease), 3},
		{"opUnary", uint64(opUnary), 4},
		{"dataSlot", uint64(dataSlot), 0}, {"dataHost", uint64(dataHost), 1}, {"dataInline", uint64(dataInline), 2},
		{"dataNone", uint64(dataNone), 3}, {"replyKept", uint64(replyKept), 1}, {"noSlot", uint64(noSlot), 1<<32 - 1},
		{"ShmFD", ShmFD, 3}, {"HostMemFD", HostMemFD, 4},
	}
	for _, c := range consts {
		if c.got != c.want {
			t.Errorf("%s = %d, protocol 4: %d", c.name, c.got, c.want)
		}
	}
	if ShmEnv != "XSTACK_PLUGIN_SHM" || HostMemEnv != "XSTACK_PLUGIN_HOSTMEM" || CookieKey != "XSTACK_PLUGIN" ||
		CookieValue != "xlator-b5f1c0de-4e9a-4d7b-9c55-6f0a1e2d3c4b" || PluginName != "xlator" {
		t.Errorf("the handshake's names changed: %s %s %s=%s %s", ShmEnv, HostMemEnv, CookieKey, CookieValue, PluginName)
	}

	// Numbers messages carry whose meaning is xstack's.
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"KindString", int64(xlator.KindString), 0}, {"KindBool", int64(xlator.KindBool), 1},
		{"KindInt", int64(xlator.KindInt), 2}, {"KindSize", int64(xlator.KindSize), 3},
		{"KindDuration", int64(xlator.KindDuration), 4}, {"KindEnum", int64(xlator.KindEnum), 5},
		{"KindPath", int64(xlator.KindPath), 6}, {"KindSizeMap", int64(xlator.KindSizeMap), 7},
		{"KindIntMap", int64(xlator.KindIntMap), 8},
		{"EventChildUp", int64(xlator.EventChildUp), 2}, {"EventChildDown", int64(xlator.EventChildDown), 3},
		{"SetMode", int64(xlator.SetMode), 0x1}, {"SetUid", int64(xlator.SetUid), 0x2}, {"SetGid", int64(xlator.SetGid), 0x4},
		{"SetSize", int64(xlator.SetSize), 0x8}, {"SetAtime", int64(xlator.SetAtime), 0x10},
		{"SetMtime", int64(xlator.SetMtime), 0x20}, {"SetAtimeNow", int64(xlator.SetAtimeNow), 0x40},
		{"SetMtimeNow", int64(xlator.SetMtimeNow), 0x80},
		{"DebugLevel", int64(zapcore.DebugLevel), -1}, {"ErrorLevel", int64(zapcore.ErrorLevel), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, protocol 4: %d", c.name, c.got, c.want)
		}
	}

	// Protocol 4 numbered the methods in the service's order, without
	// Readv and Writev.
	protocol4 := []string{"Lookup", "Stat", "Fstat", "Setattr", "Fsetattr", "Access", "Readlink", "Mknod", "Mkdir",
		"Unlink", "Rmdir", "Symlink", "Rename", "Link", "Create", "Open", "Flush", "Fsync", "Opendir", "Readdir",
		"Fsyncdir", "Statfs", "Setxattr", "Getxattr", "Listxattr", "Removexattr", "Fallocate", "Discard", "Zerofill",
		"Release", "Releasedir", "Forget"}
	for i, name := range protocol4 {
		if got := ringMethodIdx[xlatorPrefix+name]; got != uint32(i+1) {
			t.Errorf("ring method %s is number %d, protocol 4: %d", name, got, i+1)
		}
	}
}

// TestProtocolDoc: PROTOCOL.md's tables are the code's: its generated
// sections are what protocolSections makes of layout.go, handshake.go
// and the generated service now. Run with -update to rewrite them.
func TestProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	secs := protocolSections(t)
	text := string(doc)
	re := regexp.MustCompile(`(?s)(<!-- gen:([a-z0-9-]+) -->\n)(.*?)(<!-- /gen -->)`)
	seen := map[string]bool{}
	text = re.ReplaceAllStringFunc(text, func(m string) string {
		sm := re.FindStringSubmatch(m)
		name, body := sm[2], sm[3]
		seen[name] = true
		want, ok := secs[name]
		if !ok {
			t.Errorf("PROTOCOL.md has a generated section %q that the code does not make", name)
			return m
		}
		if body != want && !*update {
			t.Errorf("PROTOCOL.md's section %q is not the code's (go test ./plugin/internal/transport -run TestProtocolDoc -update); it should be:\n%s", name, want)
		}
		return sm[1] + want + sm[4]
	})
	for name := range secs {
		if !seen[name] {
			t.Errorf("PROTOCOL.md lacks the generated section %q (<!-- gen:%s --> ... <!-- /gen -->)", name, name)
		}
	}
	if *update && text != string(doc) {
		if err := os.WriteFile("PROTOCOL.md", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProtocolDocTests: every test PROTOCOL.md names as the check of a
// claim exists in this package.
func TestProtocolDocTests(t *testing.T) {
	doc, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	// The tests of every package of the plugin tree: the transport's,
	// the host's, the SDK's.
	var files []string
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, fn := range files {
		f, err := parser.ParseFile(fset, fn, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				have[fd.Name.Name] = true
			}
		}
	}
	named := regexp.MustCompile(`\b(Test|Benchmark)[A-Z][A-Za-z0-9]*`).FindAllString(string(doc), -1)
	if len(named) == 0 {
		t.Fatal("PROTOCOL.md names no test")
	}
	for _, n := range named {
		if !have[n] {
			t.Errorf("PROTOCOL.md names %s, which is no test under plugin/", n)
		}
	}
}

// protocolSections makes the generated sections of PROTOCOL.md from the
// code: values from the constants and types, meanings from their
// comments in the package's source.
func protocolSections(t *testing.T) map[string]string {
	docs := sourceDocs(t)
	meaning := func(key string) string {
		d, ok := docs[key]
		if !ok || d == "" {
			t.Errorf("%s has no comment to document it with", key)
		}
		return strings.ReplaceAll(d, "|", `\|`)
	}
	type row struct {
		name  string
		value any
	}
	constTable := func(rows []row) string {
		var b strings.Builder
		b.WriteString("| name | value | meaning |\n|---|---|---|\n")
		for _, r := range rows {
			v := fmt.Sprint(r.value)
			switch x := r.value.(type) {
			case uint32:
				if x >= 1<<16 {
					v = fmt.Sprintf("%#x", x)
				}
			case time.Duration:
				v = x.String()
			case string:
				v = "`" + x + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.name, v, meaning(r.name))
		}
		return b.String()
	}
	structTable := func(v any, end uintptr) string {
		rt := reflect.TypeOf(v)
		var b strings.Builder
		b.WriteString("| offset | size | field | type | meaning |\n|---|---|---|---|---|\n")
		var at uintptr
		pad := func(to uintptr) {
			if to > at {
				fmt.Fprintf(&b, "| %d | %d | | | padding: zero, ignored |\n", at, to-at)
			}
		}
		for i := range rt.NumField() {
			f := rt.Field(i)
			pad(f.Offset)
			typ := f.Type.String()
			if f.Type.Kind() == reflect.Array {
				typ = fmt.Sprintf("[%d]%s", f.Type.Len(), strings.Replace(f.Type.Elem().String(), "uint8", "byte", 1))
			}
			fmt.Fprintf(&b, "| %d | %d | `%s` | %s | %s |\n", f.Offset, f.Type.Size(), f.Name, typ, meaning(rt.Name()+"."+f.Name))
			at = f.Offset + f.Type.Size()
		}
		pad(end)
		return b.String()
	}

	secs := map[string]string{}
	secs["handshake"] = constTable([]row{
		{"ProtocolVersion", ProtocolVersion}, {"MinProtocolVersion", MinProtocolVersion},
		{"CookieKey", CookieKey}, {"CookieValue", CookieValue}, {"PluginName", PluginName},
		{"ShmFD", ShmFD}, {"ShmEnv", ShmEnv}, {"HostMemFD", HostMemFD}, {"HostMemEnv", HostMemEnv},
		{"SchemaFlag", SchemaFlag},
	})
	secs["arena"] = constTable([]row{
		{"ringOff", ringOff}, {"maxSlots", maxSlots}, {"ringCalls", ringCalls}, {"ringCallSize", ringCallSize},
		{"ringMsgSize", ringMsgSize}, {"ringHeadSize", ringHeadSize}, {"ringStatesOff", ringStatesOff},
		{"ringCallsOff", ringCallsOff}, {"ringSize", ringSize}, {"shmHeader", shmHeader}, {"ShmSlotSize", ShmSlotSize},
		{"ringGroups", ringGroups}, {"ringMagic", uint32(ringMagic)}, {"ToPlugin", ToPlugin}, {"ToHost", ToHost},
	})
	secs["ring-head"] = structTable(ringHead{}, ringHeadSize)
	hdr := reflect.TypeOf(callHdr{}).Size()
	secs["call"] = structTable(callHdr{}, hdr) +
		fmt.Sprintf("| %d | %d | `msg` | [%d]byte | %s |\n", hdr, ringMsgSize, ringMsgSize, meaning("ringCall.msg"))
	secs["states"] = constTable([]row{
		{"callFree", callFree}, {"callFilling", callFilling}, {"callPosted", callPosted}, {"callTaken", callTaken},
		{"callDone", callDone}, {"callAbandoned", callAbandoned}, {"callSleep", callSleep},
	})
	secs["ops"] = constTable([]row{
		{"opReadv", opReadv}, {"opWritev", opWritev}, {"opRelease", opRelease}, {"opUnary", opUnary},
		{"dataSlot", dataSlot}, {"dataHost", dataHost}, {"dataInline", dataInline}, {"dataNone", dataNone},
		{"replyKept", replyKept}, {"noSlot", noSlot},
	})
	secs["limits"] = constTable([]row{
		{"maxErrno", maxErrno}, {"maxCode", maxCode}, {"MaxIO", MaxIO}, {"MaxCallback", MaxCallback},
		{"MaxCallbackStreams", MaxCallbackStreams}, {"maxKeptLends", maxKeptLends}, {"maxKeptBytes", maxKeptBytes},
		{"ShmMin", ShmMin}, {"DefaultCallTimeout", DefaultCallTimeout}, {"PingWait", PingWait},
	})

	// Numbers messages carry whose meaning is xstack's, not the .proto's.
	var v strings.Builder
	v.WriteString("| field | value | meaning |\n|---|---|---|\n")
	for k := xlator.Kind(0); !strings.HasPrefix(k.String(), "kind("); k++ {
		fmt.Fprintf(&v, "| `Option.kind`, `Value.kind` | %d | %s |\n", k, k)
	}
	for _, e := range []xlator.Event{xlator.EventChildUp, xlator.EventChildDown} {
		fmt.Fprintf(&v, "| `NotifyReq.event` | %d | %s |\n", e, e)
	}
	for l := zapcore.DebugLevel; l <= zapcore.ErrorLevel; l++ {
		fmt.Fprintf(&v, "| `InitReq.log_level` | %d | %s |\n", l, l)
	}
	for _, b := range []struct {
		bit  uint32
		name string
	}{{xlator.SetMode, "mode"}, {xlator.SetUid, "uid"}, {xlator.SetGid, "gid"}, {xlator.SetSize, "size"},
		{xlator.SetAtime, "atime"}, {xlator.SetMtime, "mtime"}, {xlator.SetAtimeNow, "atime = now"}, {xlator.SetMtimeNow, "mtime = now"}} {
		fmt.Fprintf(&v, "| `SetattrReq.valid` | %#x | set %s |\n", b.bit, b.name)
	}
	for _, b := range []struct {
		bit  uint32
		name string
	}{{xlator.FallocKeepSize, "FALLOC_FL_KEEP_SIZE"}, {xlator.FallocPunchHole, "FALLOC_FL_PUNCH_HOLE"}, {xlator.FallocZeroRange, "FALLOC_FL_ZERO_RANGE"}} {
		fmt.Fprintf(&v, "| `RangeReq.mode` (Fallocate) | %#x | %s |\n", b.bit, b.name)
	}
	fmt.Fprintf(&v, "| `RenameReq.flags` | %d | RENAME_NOREPLACE |\n", xlator.RenameNoReplace)
	fmt.Fprintf(&v, "| `RenameReq.flags` | %d | RENAME_EXCHANGE |\n", xlator.RenameExchange)
	fmt.Fprintf(&v, "| `Loc.parent`, `Loc.gfid`, `Fd.gfid` | %x | the root directory's gfid |\n", xlator.RootGFID[:])
	secs["values"] = v.String()

	svc := pb.File_xlator_proto.Services().ByName("Xlator")
	var b strings.Builder
	b.WriteString("| number | method | request | reply | redone by gRPC when its reply finds no room |\n|---|---|---|---|---|\n")
	for _, d := range ringMethodIDs {
		var in, out protoreflect.Name
		if m := svc.Methods().ByName(protoreflect.Name(d.name)); m != nil {
			in, out = m.Input().Name(), m.Output().Name()
		}
		retry := "no: E2BIG (ResourceExhausted)"
		if d.retry {
			retry = "yes"
		}
		fmt.Fprintf(&b, "| %d | `%s` | `%s` | `%s` | %s |\n", d.id, d.name, in, out, retry)
	}
	secs["methods"] = b.String()
	return secs
}

// sourceDocs returns the comments of the package's constants ("name") and
// struct fields ("Type.field"), each as one line: a constant's or field's
// own comment, or the comment of its declaration when it declares it
// alone.
func sourceDocs(t *testing.T) map[string]string {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	text := func(groups ...*ast.CommentGroup) string {
		for _, g := range groups {
			if s := strings.Join(strings.Fields(g.Text()), " "); s != "" {
				return s
			}
		}
		return ""
	}
	fset := token.NewFileSet()
	for _, fn := range files {
		if strings.HasSuffix(fn, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, fn, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					groups := []*ast.CommentGroup{s.Doc, s.Comment}
					if len(gd.Specs) == 1 {
						groups = append(groups, gd.Doc)
					}
					for _, n := range s.Names {
						docs[n.Name] = text(nonNil(groups)...)
					}
				case *ast.TypeSpec:
					st, ok := s.Type.(*ast.StructType)
					if !ok {
						continue
					}
					for _, fl := range st.Fields.List {
						for _, n := range fl.Names {
							docs[s.Name.Name+"."+n.Name] = text(nonNil([]*ast.CommentGroup{fl.Doc, fl.Comment})...)
						}
					}
				}
			}
		}
	}
	return docs
}

func nonNil(gs []*ast.CommentGroup) []*ast.CommentGroup {
	var out []*ast.CommentGroup
	for _, g := range gs {
		if g != nil {
			out = append(out, g)
		}
	}
	return out
}
