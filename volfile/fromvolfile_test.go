package volfile

import (
	"path/filepath"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestPathFromVolfile: a relative path option that says FromVolfile (a
// plugin's binary) is relative to the volfile's directory; other paths
// (a brick's directory) stay as written, for the runtime's current
// directory; absolute paths and the embedded volfile are left alone.
func TestPathFromVolfile(t *testing.T) {
	reg := xlator.NewRegistry()
	reg.MustRegister(xlator.Type{Name: "bin", MaxChildren: 0, New: func() xlator.Xlator { return &xlator.Base{} },
		Options: xlator.Schema{
			{Name: "path", Kind: xlator.KindPath, FromVolfile: true},
			{Name: "directory", Kind: xlator.KindPath},
		}})
	for _, c := range []struct{ file, path, want string }{
		{"/etc/xstack/vol.hcl", "plugins/p", "/etc/xstack/plugins/p"},
		{"conf/vol.hcl", "./p", filepath.Join("conf", "p")},
		{"/etc/xstack/vol.hcl", "/opt/p", "/opt/p"},
		{"<embedded default>", "p", "p"},
	} {
		src := []byte(`volume "v" {
  type      = "bin"
  path      = "` + c.path + `"
  directory = "data"
}
`)
		f, diags := Parse(src, c.file, reg, nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		o := f.Spec.Volumes[0].Options
		if got := o.String("path"); got != c.want {
			t.Errorf("%s: path %q → %q, want %q", c.file, c.path, got, c.want)
		}
		if got := o.String("directory"); got != "data" {
			t.Errorf("%s: directory → %q, want it as written", c.file, got)
		}
	}
}
