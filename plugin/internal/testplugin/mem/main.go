// Command mem serves xlatortest's in-memory bottom as a plugin with no
// children: the tests and benchmarks use it to measure one round trip to
// a plugin that answers by itself.
package main

import (
	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/xlator/xlatortest"
)

func main() { plugin.Serve(xlatortest.MemType) }
