package rpc

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestWriteSchemaBadDefault: a schema whose default does not parse is not
// published (Serve then exits 1): no volfile could satisfy it.
func TestWriteSchemaBadDefault(t *testing.T) {
	var b bytes.Buffer
	err := WriteSchema(&b, xlator.Type{Name: "x", Options: xlator.Schema{{Name: "size", Kind: xlator.KindSize, Default: "lots"}}}, "00")
	if err == nil || !strings.Contains(err.Error(), `option "size": default "lots"`) {
		t.Errorf("WriteSchema: %v", err)
	}
}

// TestSchemaRoundTrip: what the plugin writes, the host reads back: the
// type without its constructor, and the sum of the binary that wrote it.
func TestSchemaRoundTrip(t *testing.T) {
	want := xlator.Type{Name: "x", Doc: "a type", MinChildren: 1, MaxChildren: -1, Options: xlator.Schema{
		{Name: "size", Kind: xlator.KindSize, Default: "4KiB", Min: 512, Max: 1 << 20, Doc: "a size"},
		{Name: "mode", Kind: xlator.KindEnum, Enum: []string{"fast", "safe"}, Required: true},
		{Name: "limits", Kind: xlator.KindSizeMap},
	}}
	var b bytes.Buffer
	if err := WriteSchema(&b, want, "abcd"); err != nil {
		t.Fatal(err)
	}
	got, sum, err := ReadSchema(&b)
	if err != nil || sum != "abcd" || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadSchema = %+v, %q, %v\nwant %+v, \"abcd\"", got, sum, err, want)
	}
}
