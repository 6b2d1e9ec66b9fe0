// Command checksum is the checksum translator as an xstack plugin: build it,
// publish its schema beside it (so xstack validate checks its options
// without running it), and name the binary in a volfile volume of type
// "plugin".
//
//	go build -o /usr/local/lib/xstack/checksum ./examples/plugins/checksum
//	/usr/local/lib/xstack/checksum -xstack-schema > /usr/local/lib/xstack/checksum.schema.json
package main

import (
	"github.com/xstack/xstack/examples/plugins/checksum/checksum"
	"github.com/xstack/xstack/plugin"
)

func main() { plugin.Serve(checksum.Type) }
