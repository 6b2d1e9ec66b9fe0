// Command fopgen writes the files generated from the fop table
// (internal/fopgen) under the module root given by -root.
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/xstack/xstack/internal/fopgen"
)

func main() {
	root := flag.String("root", ".", "the module's root directory")
	flag.Parse()
	for _, t := range fopgen.Targets {
		src, err := t.Generate()
		if err != nil {
			log.Fatalf("fopgen: %s: %v", t.Path, err)
		}
		if err := os.WriteFile(filepath.Join(*root, t.Path), src, 0o644); err != nil {
			log.Fatalf("fopgen: %v", err)
		}
	}
}
