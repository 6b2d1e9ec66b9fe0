package fopgen

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// TestGeneratedUpToDate fails when a committed generated file is not what
// the generator makes of the table: after an edit of the table or the
// generator, run go generate ./internal/fopgen.
func TestGeneratedUpToDate(t *testing.T) {
	dir := t.TempDir()
	for _, tg := range Targets {
		src, err := tg.Generate()
		if err != nil {
			t.Fatalf("%s: %v", tg.Path, err)
		}
		out := filepath.Join(dir, filepath.Base(tg.Path))
		if err := os.WriteFile(out, src, 0o644); err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", "..", tg.Path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(committed, src) {
			t.Errorf("%s is not the generator's output (see %s); run: go generate ./internal/fopgen", tg.Path, out)
		}
	}
}

// xlatorTypes resolves the table's type spellings.
var xlatorTypes = map[string]reflect.Type{
	"*Loc":          reflect.TypeFor[*xlator.Loc](),
	"*FD":           reflect.TypeFor[*xlator.FD](),
	"*SetattrIn":    reflect.TypeFor[*xlator.SetattrIn](),
	"*iobuf.Iobref": reflect.TypeFor[*iobuf.Iobref](),
	"Iatt":          reflect.TypeFor[xlator.Iatt](),
	"Statvfs":       reflect.TypeFor[xlator.Statvfs](),
	"*Flock":        reflect.TypeFor[*xlator.Flock](),
	"Flock":         reflect.TypeFor[xlator.Flock](),
	"[]Dirent":      reflect.TypeFor[[]xlator.Dirent](),
	"[]byte":        reflect.TypeFor[[]byte](),
	"[]string":      reflect.TypeFor[[]string](),
	"string":        reflect.TypeFor[string](),
	"bool":          reflect.TypeFor[bool](),
	"int":           reflect.TypeFor[int](),
	"int64":         reflect.TypeFor[int64](),
	"uint32":        reflect.TypeFor[uint32](),
}

// TestTableMatchesFops checks the table against the hand-written
// xlator.Fops: the same methods with the same signatures, and the Fop
// constants in table order with their GlusterFS names.
func TestTableMatchesFops(t *testing.T) {
	fops := reflect.TypeFor[xlator.Fops]()
	if fops.NumMethod() != len(Table) {
		t.Errorf("xlator.Fops has %d methods, the table %d fops", fops.NumMethod(), len(Table))
	}
	if int(xlator.NumFops) != len(Table) {
		t.Errorf("NumFops = %d, the table has %d fops", xlator.NumFops, len(Table))
	}
	errT := reflect.TypeFor[error]()
	callT := reflect.TypeFor[*xlator.Call]()
	for i, f := range Table {
		if got := xlator.Fop(i).String(); got != f.Gluster {
			t.Errorf("Fop(%d) is %q, the table's %s is %q", i, got, f.Name, f.Gluster)
		}
		m, ok := fops.MethodByName(f.Name)
		if !ok {
			t.Errorf("xlator.Fops has no %s", f.Name)
			continue
		}
		want := []reflect.Type{callT}
		for _, a := range f.Args {
			typ, ok := xlatorTypes[a.Type]
			if !ok {
				t.Fatalf("%s: type %q unknown to this test", f.Name, a.Type)
			}
			want = append(want, typ)
		}
		var wantOut []reflect.Type
		if f.Result.Type != "" {
			wantOut = append(wantOut, xlatorTypes[f.Result.Type])
		}
		wantOut = append(wantOut, errT)
		if got := sig(m.Type); got != sigOf(want, wantOut) {
			t.Errorf("%s: xlator.Fops has %s, the table %s", f.Name, got, sigOf(want, wantOut))
		}
	}
}

func sig(ft reflect.Type) string {
	var in, out []reflect.Type
	for i := range ft.NumIn() {
		in = append(in, ft.In(i))
	}
	for i := range ft.NumOut() {
		out = append(out, ft.Out(i))
	}
	return sigOf(in, out)
}

func sigOf(in, out []reflect.Type) string {
	var b strings.Builder
	b.WriteString("func(")
	for i, t := range in {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
	b.WriteString(") (")
	for i, t := range out {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.String())
	}
	b.WriteString(")")
	return b.String()
}

// TestTableFlags checks what the generator relies on.
func TestTableFlags(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Table {
		if seen[f.Name] {
			t.Errorf("%s twice in the table", f.Name)
		}
		seen[f.Name] = true
		if f.Data && (!f.RemoteByHand || !f.ServerByHand) {
			t.Errorf("%s carries data: its plugin adapters are the rings', by hand", f.Name)
		}
		if f.Entry && (f.Result.Type != "Iatt" || f.Target() == nil || f.Target().Type != "*Loc") {
			t.Errorf("%s: an entry fop returns the Iatt of its loc", f.Name)
		}
		if f.Local && (f.Data || f.ServerByHand || f.Req != "" || f.Rsp != "") {
			t.Errorf("%s is not in the plugin protocol: it has no messages and no adapters by hand", f.Name)
		}
	}
}
