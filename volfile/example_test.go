package volfile_test

import (
	"fmt"
	"os"

	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
)

func Example() {
	reg := xlator.NewRegistry()
	reg.MustRegister(xlator.Type{
		Name: "posix", New: func() xlator.Xlator { return nil },
		Options: xlator.Schema{{Name: "directory", Kind: xlator.KindPath, Required: true}},
	})
	reg.MustRegister(xlator.Type{
		Name: "stripe", New: func() xlator.Xlator { return nil }, MinChildren: 1, MaxChildren: -1,
		Options: xlator.Schema{{Name: "block-size", Kind: xlator.KindSize, Default: "128KiB"}},
	})
	src := []byte(`
variable "data" { default = "/srv" }
volume "b0" {
  type      = "posix"
  directory = "${var.data}/b0"
}
volume "b1" {
  type      = "posix"
  directory = "${var.data}/b1"
}
volume "stripe" {
  type       = "stripe"
  subvolumes = ["b0", "b1"]
  block-size = 65536
}
`)
	f, diags := volfile.Parse(src, "example.hcl", reg, map[string]string{"data": "/data"})
	if diags.HasErrors() {
		diags.Write(os.Stderr, false, 80)
		return
	}
	fmt.Println("top:", f.Spec.Top)
	volfile.WriteTree(os.Stdout, f.Spec)

	// A mistake gives a diagnostic that points at it.
	_, diags = volfile.Parse([]byte(`volume "b0" { type = "posx" }`), "bad.hcl", reg, nil)
	fmt.Println(diags.Err())
	// Output:
	// top: stripe
	// stripe (stripe) block-size=64KiB
	// ├── b0 (posix) directory=/data/b0
	// └── b1 (posix) directory=/data/b1
	// bad.hcl:1:22: Unknown volume type "posx"; No xlator type is registered as "posx". Did you mean "posix"? The known types are "posix" and "stripe".
}
