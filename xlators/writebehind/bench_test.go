package writebehind

import (
	"fmt"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

// BenchmarkSequentialWrite writes a file 4KiB at a time (dd bs=4k) through
// posix alone (the baseline) and through write-behind over posix, on a
// temporary directory: the file wraps at 64MiB so that it stays in the
// page cache, and what is measured is the stack, not the disk.
func BenchmarkSequentialWrite(b *testing.B) {
	for _, stack := range []string{"posix", "write-behind/posix"} {
		b.Run(fmt.Sprintf("stack=%s/size=4KiB", stack), func(b *testing.B) {
			var spec *xlator.Spec
			if stack == "posix" {
				spec = xlatortest.Chain("posix")
			} else {
				spec = xlatortest.Chain(TypeName, "posix")
				spec.Volumes[0].Options = options(b, nil)
			}
			o, err := posix.Schema.Decode(map[string]string{"directory": b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			spec.Volumes[len(spec.Volumes)-1].Options = o
			reg := xlatortest.Registry()
			Register(reg)
			posix.Register(reg)
			env := xlatortest.NewEnv(b)
			g := xlatortest.Start(b, spec, reg, env)
			in, fd := xlatortest.Create(b, g, "f")
			defer in.Unref()
			defer fd.Unref()
			data := env.Iobufs.FromBytes(pattern(kb4, 1))
			defer data.Unref()
			top := g.Top()
			const wrap = 64 << 20
			b.SetBytes(kb4)
			b.ReportAllocs()
			off := int64(0)
			for b.Loop() {
				c := g.Calls().Begin(b.Context(), xlator.FopWritev, xlator.Creds{}, 0)
				if _, err := top.Writev(c, fd, data, off); err != nil {
					b.Fatal(err)
				}
				c.Done()
				if off += kb4; off == wrap {
					off = 0
				}
			}
			b.StopTimer()
			c := g.Calls().Begin(b.Context(), xlator.FopFsync, xlator.Creds{}, 0)
			_ = top.Flush(c, fd)
			c.Done()
		})
	}
}
