// Command metabench measures one metadata operation over many empty
// files: creating them, stat-ing them or unlinking them. bench/fio.sh runs
// the three as separate invocations so that it can drop the kernel's
// caches in between; a stat or unlink then has to look every name up in
// the file system under test instead of in the kernel's dentry cache.
//
//	metabench -op create|stat|unlink -dir DIR [-n 10000] [-jobs 1]
//
// Files are DIR/j<job>/f<index>; create makes the job directories. With
// -jobs J the files are split over J goroutines, each in its own
// directory. The last line of output is "OP FILES SECONDS OPS_PER_SECOND",
// which the script parses.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

func main() {
	op := flag.String("op", "", "create, stat or unlink")
	dir := flag.String("dir", "", "directory to work in (on the file system under test)")
	n := flag.Int("n", 10000, "number of files")
	jobs := flag.Int("jobs", 1, "goroutines, each with its own subdirectory")
	flag.Parse()
	if *dir == "" || *n <= 0 || *jobs <= 0 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	var fn func(path string) error
	switch *op {
	case "create":
		fn = create
	case "stat":
		fn = func(p string) error { _, err := os.Lstat(p); return err }
	case "unlink":
		fn = os.Remove
	default:
		fmt.Fprintf(os.Stderr, "metabench: unknown -op %q (want create, stat or unlink)\n", *op)
		os.Exit(2)
	}
	if *op == "create" {
		for j := 0; j < *jobs; j++ {
			if err := os.MkdirAll(jobDir(*dir, j), 0o755); err != nil {
				fmt.Fprintf(os.Stderr, "metabench: %v\n", err)
				os.Exit(1)
			}
		}
	}

	start := time.Now()
	errs := make([]error, *jobs)
	var wg sync.WaitGroup
	for j := 0; j < *jobs; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := jobDir(*dir, j)
			// Job j does files j, j+jobs, j+2*jobs, ...: n in all.
			for i := j; i < *n; i += *jobs {
				if err := fn(filepath.Join(d, fmt.Sprintf("f%07d", i))); err != nil {
					errs[j] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(os.Stderr, "metabench: %s: %v\n", *op, err)
		os.Exit(1)
	}
	if *op == "unlink" {
		for j := 0; j < *jobs; j++ {
			_ = os.Remove(jobDir(*dir, j)) // not timed
		}
	}
	fmt.Printf("%s %d %.3f %.0f\n", *op, *n, elapsed.Seconds(), float64(*n)/elapsed.Seconds())
}

func jobDir(dir string, j int) string { return filepath.Join(dir, fmt.Sprintf("j%d", j)) }

// create makes an empty file the way a program writing a new file does:
// open with O_CREAT|O_EXCL, close.
func create(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}
