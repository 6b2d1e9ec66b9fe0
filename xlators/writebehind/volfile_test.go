package writebehind_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlators/builtin"
)

// TestVolfileErrors: bad option values are reported with file:line:col
// and the option's range, as for every translator.
func TestVolfileErrors(t *testing.T) {
	src := `volume "brick" {
  type      = "posix"
  directory = "/srv/b"
}
volume "wb" {
  type              = "write-behind"
  subvolumes        = ["brick"]
  window-size       = "1KiB"
  flush-behind      = "maybe"
  total-window-size = "64GiB"
}
`
	_, diags := volfile.Parse([]byte(src), "wb.hcl", builtin.Registry(), nil)
	if diags == nil || !diags.HasErrors() {
		t.Fatal("bad values accepted")
	}
	var out bytes.Buffer
	if err := diags.Write(&out, false, 100); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wb.hcl:8:23", "window-size", "wb.hcl:9:23", "flush-behind", "wb.hcl:10:23", "total-window-size"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diagnostics lack %q:\n%s", want, out.String())
		}
	}
}
