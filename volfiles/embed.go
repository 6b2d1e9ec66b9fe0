// Package volfiles holds the example volfiles shipped with xstack, embedded
// in the binary. default.hcl is the volfile `xstack run` uses when given
// none; the others are starting points to copy. Each file documents itself
// in comments; see package volfile for the syntax.
package volfiles

import "embed"

// FS holds every *.hcl file of this directory, by base name.
//
//go:embed *.hcl
var FS embed.FS

// DefaultName is the name of the default volfile in FS.
const DefaultName = "default.hcl"

// Default returns the default volfile: a cache over a stripe over two
// posix bricks under var.data, mounted at var.mount. The returned slice is
// a fresh copy the caller may keep or modify.
func Default() []byte {
	b, err := FS.ReadFile(DefaultName)
	if err != nil {
		panic("volfiles: default volfile missing from the embedded FS: " + err.Error())
	}
	return b
}
