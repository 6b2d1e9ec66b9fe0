package rpc_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xstack/xstack/internal/fopgen"
	pb "github.com/xstack/xstack/plugin/proto"
)

// TestTableMatchesService checks that every fop of the table has its
// method in the Xlator service, with the request and reply the table
// names (the generated adapters fill and read them).
func TestTableMatchesService(t *testing.T) {
	svc := reflect.TypeFor[pb.XlatorServer]()
	ctxT := reflect.TypeFor[context.Context]()
	for _, f := range fopgen.Table {
		if f.Local {
			if _, ok := svc.MethodByName(f.Name); ok {
				t.Errorf("%s is in the Xlator service: it is not Local in the fop table any more", f.Name)
			}
			continue
		}
		m, ok := svc.MethodByName(f.Name)
		if !ok {
			t.Errorf("the Xlator service has no %s: add it to plugin/proto/xlator.proto", f.Name)
			continue
		}
		ft := m.Type
		if ft.NumIn() != 2 || ft.In(0) != ctxT || ft.NumOut() != 2 ||
			ft.In(1).Kind() != reflect.Pointer || ft.In(1).Elem().Name() != f.Req ||
			ft.Out(0).Kind() != reflect.Pointer || ft.Out(0).Elem().Name() != f.Rsp {
			t.Errorf("Xlator.%s is %v; the table says (%s) returns (%s)", f.Name, ft, f.Req, f.Rsp)
		}
	}
}

// TestHandWrittenAdapters checks that every fop the table leaves to hand
// is written in this package: without it, Remote would silently answer
// with its embedded Base (ENOSYS) and Server with Unimplemented.
func TestHandWrittenAdapters(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{} // "Remote.Create"
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil {
				continue
			}
			typ := fn.Recv.List[0].Type
			if st, ok := typ.(*ast.StarExpr); ok {
				typ = st.X
			}
			if id, ok := typ.(*ast.Ident); ok {
				declared[id.Name+"."+fn.Name.Name] = true
			}
		}
	}
	for _, f := range fopgen.Table {
		for _, typ := range []string{"Remote", "Server"} {
			if f.Local && typ == "Server" {
				continue
			}
			if !declared[typ+"."+f.Name] {
				t.Errorf("no %s.%s in package rpc: generate it (go generate ./internal/fopgen) or write it", typ, f.Name)
			}
		}
	}
}
