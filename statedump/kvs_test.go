package statedump_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/xstack/xstack/statedump"
)

// TestKVsJSON: priv and section key-values are one JSON object whose keys
// keep their order through a round trip; a version 1 list reads the same.
func TestKVsJSON(t *testing.T) {
	in := statedump.KVs{{Key: "zeta", Value: 1.0}, {Key: "alpha", Value: "x"}, {Key: "mid", Value: true}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"zeta":1,"alpha":"x","mid":true}`; string(b) != want {
		t.Errorf("marshal: %s, want %s", b, want)
	}
	var out statedump.KVs
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(out, in) {
		t.Errorf("round trip: %+v, %v", out, err)
	}
	var v1 statedump.KVs
	if err := json.Unmarshal([]byte(`[{"key":"zeta","value":1},{"key":"alpha","value":"x"},{"key":"mid","value":true}]`), &v1); err != nil || !reflect.DeepEqual(v1, in) {
		t.Errorf("version 1 list: %+v, %v", v1, err)
	}
	for _, bad := range []string{`"s"`, `{"a":}`, `{1:2}`, `[1]`} {
		var k statedump.KVs
		if err := json.Unmarshal([]byte(bad), &k); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
