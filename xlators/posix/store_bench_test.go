package posix

import (
	"strconv"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// BenchmarkEntryFops measures the entry fops the gfid store adds work to,
// through the graph on a fresh brick: create+release+unlink and
// mkdir+rmdir (the entry made and removed), lookup (the entry checked)
// and stat by inode (the store's link left out of the count). It uses
// only what posix had before the store, so that the same file runs on the
// commit before it as the baseline (bench/README.md has the figures and
// the command).
func BenchmarkEntryFops(b *testing.B) {
	newBench := func(b *testing.B) (*brick, xlator.Xlator, *xlator.Inode) {
		br := newBrickEnv(b, benchEnv(b), map[string]string{"health-check-interval": "0", "fsync": "none"})
		return br, br.top(), br.root()
	}
	// names spread the files over one directory of 1024 names, as a
	// create-heavy workload does.
	var names [1024]string
	for i := range names {
		names[i] = "f" + strconv.Itoa(i)
	}
	// store=cold: fresh gfids on a fresh brick, so most creates also make
	// the two directories of their entry's fan-out (ab/cd) in the store;
	// store=warm: gfids whose first two bytes repeat from a set of 64,
	// each made once before the timer, as on a brick that already holds
	// many files.
	for _, warm := range []bool{false, true} {
		b.Run("op=create-unlink/store="+map[bool]string{false: "cold", true: "warm"}[warm], func(b *testing.B) {
			br, top, root := newBench(b)
			createUnlink := func(name string, g xlator.GFID) {
				in := br.g.Inodes().New()
				fd := br.g.NewFD(in, syscall.O_RDWR, 1, false)
				c := br.call(xlator.FopCreate)
				_, err := top.Create(c, &xlator.Loc{Parent: root, Name: name, Inode: in, GfidReq: g}, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL, 0o644, 0, fd)
				c.Done()
				fd.Unref()
				in.Unref()
				if err != nil {
					b.Fatal(err)
				}
				c = br.call(xlator.FopUnlink)
				err = top.Unlink(c, &xlator.Loc{Parent: root, Name: name})
				c.Done()
				if err != nil {
					b.Fatal(err)
				}
			}
			gfid := func(i int) xlator.GFID {
				g := xlator.NewGFID()
				if warm {
					g[0], g[1] = byte(i%64), byte(i%64*3)
				}
				return g
			}
			if warm {
				for i := range 64 {
					createUnlink(names[0], gfid(i))
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				createUnlink(names[i%len(names)], gfid(i))
				i++
			}
		})
	}
	b.Run("op=mkdir-rmdir", func(b *testing.B) {
		br, top, root := newBench(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			name := names[i%len(names)]
			i++
			c := br.call(xlator.FopMkdir)
			_, err := top.Mkdir(c, &xlator.Loc{Parent: root, Name: name}, 0o755, 0)
			c.Done()
			if err != nil {
				b.Fatal(err)
			}
			c = br.call(xlator.FopRmdir)
			err = top.Rmdir(c, &xlator.Loc{Parent: root, Name: name})
			c.Done()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	lookupSetup := func(b *testing.B) (*brick, xlator.Xlator, *xlator.Inode, []*xlator.Inode) {
		br, top, root := newBench(b)
		ins := make([]*xlator.Inode, len(names))
		for i, name := range names {
			in, fd, _, err := br.create(root, name, syscall.O_RDWR, 0o644, 0)
			if err != nil {
				b.Fatal(err)
			}
			fd.Unref()
			ins[i] = in
		}
		return br, top, root, ins
	}
	b.Run("op=lookup", func(b *testing.B) {
		br, top, root, _ := lookupSetup(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			in := br.g.Inodes().New()
			c := br.call(xlator.FopLookup)
			_, err := top.Lookup(c, &xlator.Loc{Parent: root, Name: names[i%len(names)], Inode: in})
			c.Done()
			in.Unref()
			i++
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=stat-by-inode", func(b *testing.B) {
		br, top, _, ins := lookupSetup(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c := br.call(xlator.FopStat)
			_, err := top.Stat(c, &xlator.Loc{Inode: ins[i%len(ins)]})
			c.Done()
			i++
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
