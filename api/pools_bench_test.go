package api_test

import (
	"fmt"
	"runtime/metrics"
	"testing"

	"github.com/xstack/xstack/api"
)

// BenchmarkPools runs small fops through the default volfile (cache,
// stripe, two posix bricks) in process, without FUSE: 4 KiB writes and
// reads of one file, and a create, stat and unlink of a file. Its
// baseline is the same benchmark built with -tags nopools, where every
// pool is plain Go allocation (bench/pools.sh runs both). Besides ns/op and
// allocations it reports the garbage collector's CPU per op (gc-ns/op,
// from runtime/metrics).
func BenchmarkPools(b *testing.B) {
	v, err := api.Open("", &api.Options{Vars: map[string]string{"data": b.TempDir(), "mount": b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	f, err := v.Create("f")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	const span = 4096 // 16 MiB of 4 KiB blocks
	for i := range span {
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			b.Fatal(err)
		}
	}
	for _, bench := range []struct {
		name string
		op   func(i int) error
	}{
		{"op=write-4KiB", func(i int) error { _, err := f.WriteAt(buf, int64(i%span)*4096); return err }},
		{"op=read-4KiB", func(i int) error { _, err := f.ReadAt(buf, int64(i%span)*4096); return err }},
		{"op=create-stat-unlink", func(i int) error {
			name := fmt.Sprintf("m%d", i)
			g, err := v.Create(name)
			if err != nil {
				return err
			}
			if err := g.Close(); err != nil {
				return err
			}
			if _, err := v.Stat(name); err != nil {
				return err
			}
			return v.Remove(name)
		}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			gc0 := gcSeconds()
			for i := 0; b.Loop(); i++ {
				if err := bench.op(i); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((gcSeconds()-gc0)*1e9/float64(b.N), "gc-ns/op")
		})
	}
}

// gcSeconds is the CPU the garbage collector has used so far (an
// estimate the runtime keeps).
func gcSeconds() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}
