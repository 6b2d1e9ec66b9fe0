package host

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestReadSchemaUnknown: a schema file that is missing, unreadable as a
// schema, or written by another binary leaves the schema unknown
// (xlator.ErrSchemaUnknown, a warning at load), with the reason and how to
// publish it.
func TestReadSchemaUnknown(t *testing.T) {
	const sum = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	const head = `{"format": "xstack-plugin-schema/1", "binary-sha256": "` + sum + `", "name": "p", "options": [`
	for _, tc := range []struct{ name, file, want string }{
		{"missing", "", "publishes no schema"},
		{"not JSON", "#!/bin/sh\n", "is not a schema file"},
		{"other format", `{"format": "xstack-plugin-schema/9", "binary-sha256": "` + sum + `"}`, `format "xstack-plugin-schema/9"`},
		{"unknown kind", head + `{"name": "a", "kind": "colour"}]}`, `option "a" has an unknown kind "colour"`},
		{"option twice", head + `{"name": "a", "kind": "int"}, {"name": "a", "kind": "int"}]}`, `option "a" is declared twice`},
		{"nameless option", head + `{"kind": "int"}]}`, "an option has no name"},
		{"another binary", strings.Replace(head, "00112233", "ffffffff", 1) + `]}`, "was published by a binary with sha256 ffffffff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "p")
			if tc.file != "" {
				if err := os.WriteFile(SchemaFile(bin), []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := readSchema(bin, sum)
			if !errors.Is(err, xlator.ErrSchemaUnknown) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), bin+" -xstack-schema > "+bin+".schema.json") {
				t.Errorf("readSchema: %v\nwant ErrSchemaUnknown saying %q and how to publish", err, tc.want)
			}
		})
	}
	bin := filepath.Join(t.TempDir(), "p")
	os.WriteFile(SchemaFile(bin), []byte(head+`{"name": "a", "kind": "size map", "min": 1}]}`), 0o644)
	got, err := readSchema(bin, strings.ToUpper(sum))
	if err != nil || len(got.Options) != 1 || !reflect.DeepEqual(got.Options[0], xlator.Option{Name: "a", Kind: xlator.KindSizeMap, Min: 1}) {
		t.Errorf("readSchema = %+v, %v", got, err)
	}
}
