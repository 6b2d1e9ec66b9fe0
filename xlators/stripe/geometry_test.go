package stripe

import (
	"reflect"
	"testing"
	"testing/quick"

	"github.com/xstack/xstack/xlator"
)

const kb16 = 16 << 10

func TestSplit(t *testing.T) {
	const B = kb16
	g3 := Geometry{BlockSize: B, Count: 3}
	c3 := Geometry{BlockSize: B, Count: 3, Coalesce: true}
	p := func(child int, co, n, pos int64) Piece { return Piece{Child: child, ChildOff: co, Len: n, Pos: pos} }
	cases := []struct {
		name   string
		g      Geometry
		off, n int64
		want   []Piece
	}{
		{"empty", g3, 5, 0, nil},
		{"short file", g3, 0, 10, []Piece{p(0, 0, 10, 0)}},
		{"exact block", g3, 0, B, []Piece{p(0, 0, B, 0)}},
		{"exact second block", g3, B, B, []Piece{p(1, B, B, 0)}},
		{"exact second block coalesced", c3, B, B, []Piece{p(1, 0, B, 0)}},
		{"unaligned inside a block", g3, 100, 200, []Piece{p(0, 100, 200, 0)}},
		{"last byte of a block", g3, B - 1, 1, []Piece{p(0, B-1, 1, 0)}},
		{"first byte of a block", g3, B, 1, []Piece{p(1, B, 1, 0)}},
		{"across one boundary", g3, B - 10, 20, []Piece{p(0, B-10, 10, 0), p(1, B, 10, 10)}},
		{"across one boundary coalesced", c3, B - 10, 20, []Piece{p(0, B-10, 10, 0), p(1, 0, 10, 10)}},
		{"across a row", g3, 3*B - 1, 2, []Piece{p(2, 3*B-1, 1, 0), p(0, 3*B, 1, 1)}},
		{"across a row coalesced", c3, 3*B - 1, 2, []Piece{p(2, B-1, 1, 0), p(0, B, 1, 1)}},
		{"many stripes aligned", g3, 0, 4 * B, []Piece{p(0, 0, B, 0), p(1, B, B, B), p(2, 2*B, B, 2*B), p(0, 3*B, B, 3*B)}},
		{"many stripes aligned coalesced", c3, 0, 4 * B, []Piece{p(0, 0, B, 0), p(1, 0, B, B), p(2, 0, B, 2*B), p(0, B, B, 3*B)}},
		{"many stripes unaligned coalesced", c3, B + 5, 3 * B, []Piece{p(1, 5, B-5, 0), p(2, 0, B, B-5), p(0, B, B, 2*B-5), p(1, B, 5, 3*B-5)}},
		{"far offset coalesced", c3, 7*B + 3, 4, []Piece{p(1, 2*B+3, 4, 0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.g.Split(nil, tc.off, tc.n)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Split(%d, %d):\n got %+v\nwant %+v", tc.off, tc.n, got, tc.want)
			}
		})
	}
}

func TestChildSizeAndLogicalSize(t *testing.T) {
	const B = kb16
	cases := []struct {
		size      int64
		sparse    []int64
		coalesced []int64
	}{
		{0, []int64{0, 0, 0}, []int64{0, 0, 0}},
		{10, []int64{10, 0, 0}, []int64{10, 0, 0}},
		{B, []int64{B, 0, 0}, []int64{B, 0, 0}},
		{B + 1, []int64{B, B + 1, 0}, []int64{B, 1, 0}},
		{3 * B, []int64{B, 2 * B, 3 * B}, []int64{B, B, B}},
		{3*B + 5, []int64{3*B + 5, 2 * B, 3 * B}, []int64{B + 5, B, B}},
		{5*B - 1, []int64{4 * B, 5*B - 1, 3 * B}, []int64{2 * B, 2*B - 1, B}},
		{6 * B, []int64{4 * B, 5 * B, 6 * B}, []int64{2 * B, 2 * B, 2 * B}},
	}
	for _, tc := range cases {
		for _, co := range []bool{false, true} {
			g := Geometry{BlockSize: B, Count: 3, Coalesce: co}
			want := tc.sparse
			if co {
				want = tc.coalesced
			}
			got := make([]int64, 3)
			for i := range got {
				got[i] = g.ChildSize(i, tc.size)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("coalesce=%v size=%d: child sizes %v, want %v", co, tc.size, got, want)
			}
			if l := g.LogicalSize(got); l != tc.size {
				t.Errorf("coalesce=%v: LogicalSize(%v) = %d, want %d", co, got, l, tc.size)
			}
		}
	}
}

func TestPlan(t *testing.T) {
	const B = kb16
	// Without coalesce every piece is its own run.
	g := Geometry{BlockSize: B, Count: 2}
	pieces := g.Split(nil, 10, 3*B)
	runs := Plan(nil, pieces)
	if len(runs) != len(pieces) {
		t.Fatalf("sparse: %d runs for %d pieces", len(runs), len(pieces))
	}
	for i, p := range pieces {
		if p.Run != i || p.RunOff != 0 || runs[i] != (Run{p.Child, p.ChildOff, p.Len}) {
			t.Errorf("sparse piece %d: %+v, run %+v", i, p, runs[i])
		}
	}
	// With coalesce a child's share of a range is one run.
	c := Geometry{BlockSize: B, Count: 3, Coalesce: true}
	pieces = c.Split(nil, B+B/2, 6*B)
	runs = Plan(nil, pieces)
	// The pieces: c1[B/2,B) c2[0,B) c0[B,2B) c1[B,2B) c2[B,2B) c0[2B,3B) c1[2B,2B+B/2).
	want := []Run{{1, B / 2, B/2 + B + B/2}, {2, 0, 2 * B}, {0, B, 2 * B}}
	if !reflect.DeepEqual(runs, want) {
		t.Fatalf("coalesced runs %+v, want %+v", runs, want)
	}
	wantRunOff := []int64{0, 0, 0, B / 2, B, B, B/2 + B}
	for i, p := range pieces {
		if p.RunOff != wantRunOff[i] || runs[p.Run].Child != p.Child {
			t.Errorf("coalesced piece %d: run %d runoff %d, want runoff %d", i, p.Run, p.RunOff, wantRunOff[i])
		}
	}
}

// refLocate is the byte-by-byte definition of the layout.
func refLocate(g Geometry, b int64) (int, int64) {
	k := b / g.BlockSize
	child := int(k % int64(g.Count))
	if g.Coalesce {
		return child, (k/int64(g.Count))*g.BlockSize + b%g.BlockSize
	}
	return child, b
}

type quickCase struct {
	Blocks   uint8 // block size in 512-byte units, 1..
	Count    uint8
	Coalesce bool
	Off, N   uint32
}

func (q quickCase) geometry() Geometry {
	return Geometry{BlockSize: int64(q.Blocks%64+1) * 512, Count: int(q.Count%5) + 2, Coalesce: q.Coalesce}
}

func TestSplitProperty(t *testing.T) {
	f := func(q quickCase) bool {
		g := q.geometry()
		off, n := int64(q.Off%(1<<20)), int64(q.N%(64<<10))
		pieces := g.Split(nil, off, n)
		runs := Plan(nil, pieces)
		pos := int64(0)
		for _, p := range pieces {
			if p.Pos != pos || p.Len <= 0 || p.Len > g.BlockSize {
				return false
			}
			// Every byte of the piece maps where the reference says, and
			// the piece stays within one block.
			for _, b := range []int64{0, p.Len - 1} {
				c, co := refLocate(g, off+p.Pos+b)
				if c != p.Child || co != p.ChildOff+b {
					return false
				}
			}
			if (off+p.Pos)/g.BlockSize != (off+p.Pos+p.Len-1)/g.BlockSize {
				return false
			}
			r := runs[p.Run]
			if r.Child != p.Child || r.ChildOff+p.RunOff != p.ChildOff || p.RunOff+p.Len > r.Len {
				return false
			}
			if fo := g.FileOffset(p.Child, p.ChildOff); fo != off+p.Pos {
				return false
			}
			pos += p.Len
		}
		return pos == n
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
}

func TestSizeProperty(t *testing.T) {
	f := func(q quickCase) bool {
		g := q.geometry()
		size := int64(q.Off % (256 << 10))
		sizes := make([]int64, g.Count)
		for i := range sizes {
			sizes[i] = g.ChildSize(i, size)
		}
		// Reference: a child's size is one past the child offset of the
		// last file byte it holds. Every child's last block lies in the
		// file's last Count blocks, so scanning those bytes is enough.
		ref := make([]int64, g.Count)
		for b := max(size-int64(g.Count)*g.BlockSize, 0); b < size; b++ {
			c, co := refLocate(g, b)
			ref[c] = max(ref[c], co+1)
		}
		return reflect.DeepEqual(sizes, ref) && g.LogicalSize(sizes) == size
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 1000}); err != nil {
		t.Error(err)
	}
}

func TestGeometryEncoding(t *testing.T) {
	for _, g := range []Geometry{{BlockSize: 128 << 10, Count: 3}, {BlockSize: 512, Count: 2, Coalesce: true}} {
		got, err := ParseGeometry(g.Encode())
		if err != nil || got != g {
			t.Errorf("round trip of %v: %v, %v", g, got, err)
		}
	}
	bad := []string{"", "block-size=131072 count=3", "block-size=131072 count=3 coalesce=2",
		"block-size=1000 count=3 coalesce=0", "block-size=131072 count=1 coalesce=0",
		"block-size=131072 count=3 coalesce=0 count=3", "block-size=131072 count=3 coalesce=0 x=1",
		"block-size=abc count=3 coalesce=0", "block-size count=3 coalesce=0"}
	for _, b := range bad {
		if g, err := ParseGeometry([]byte(b)); err == nil {
			t.Errorf("ParseGeometry(%q) = %v, want an error", b, g)
		}
	}
}

func FuzzParseGeometry(f *testing.F) {
	f.Add([]byte("block-size=131072 count=3 coalesce=0"))
	f.Add([]byte("block-size=512 count=2 coalesce=1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGeometry(b)
		if err != nil {
			return
		}
		if g.Valid() != nil {
			t.Fatalf("accepted an invalid geometry %+v", g)
		}
		g2, err := ParseGeometry(g.Encode())
		if err != nil || g2 != g {
			t.Fatalf("re-encoding %+v gives %+v, %v", g, g2, err)
		}
	})
}

// TestStatfsCountsFileSystemsOnce: children on the same file system (the
// same Fsid, as two bricks in directories of one disk) count it once;
// children on different ones, or that do not know theirs, add up.
func TestStatfsCountsFileSystemsOnce(t *testing.T) {
	fs := func(id uint64) xlator.Statvfs {
		return xlator.Statvfs{Bsize: 4096, Frsize: 4096, Blocks: 1000, Bfree: 500, Bavail: 400, Files: 100, Fsid: id}
	}
	for _, c := range []struct {
		name   string
		ids    []uint64
		blocks uint64
		fsid   uint64
	}{
		{"one fs", []uint64{7, 7}, 1000, 7},
		{"two fs", []uint64{7, 8}, 2000, 0},
		{"two of three", []uint64{7, 8, 7}, 2000, 0},
		{"unknown", []uint64{0, 0}, 2000, 0},
	} {
		var v []xlator.Statvfs
		for _, id := range c.ids {
			v = append(v, fs(id))
		}
		r := sumStatfs(v)
		if r.Blocks != c.blocks || r.Bfree != c.blocks/2 || r.Bavail != c.blocks*2/5 || r.Fsid != c.fsid {
			t.Errorf("%s: %+v, want %d blocks, fsid %d", c.name, r, c.blocks, c.fsid)
		}
	}
}
