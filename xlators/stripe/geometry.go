package stripe

import (
	"fmt"
	"strconv"
	"strings"
)

// Geometry is how one file's data is laid out over the children: blocks of
// BlockSize bytes, block k on child k % Count. Without Coalesce a block
// sits at its own file offset in the child's file (which is then sparse);
// with Coalesce the blocks a child holds are packed one after the other,
// block k at (k / Count) * BlockSize.
//
// A file's geometry is fixed when stripe creates it and kept in the xattr
// XattrKey on every child file, so a file keeps its layout when the volfile
// changes. The methods are pure arithmetic: safe for concurrent use, no
// allocation beyond the slices they append to.
type Geometry struct {
	BlockSize int64
	Count     int
	Coalesce  bool
}

// Valid reports whether g can describe a file: a positive block size that
// is a multiple of 512 and at least two children. The volume options are
// stricter (at least MinBlockSize); a geometry read back from a file is
// held only to what the arithmetic needs.
func (g Geometry) Valid() error {
	if g.BlockSize <= 0 || g.BlockSize%512 != 0 {
		return fmt.Errorf("block size %d is not a positive multiple of 512", g.BlockSize)
	}
	if g.Count < 2 {
		return fmt.Errorf("stripe count %d is below 2", g.Count)
	}
	return nil
}

// String renders g as the xattr stores it.
func (g Geometry) String() string { return string(g.Encode()) }

// Encode renders g for the xattr: "block-size=131072 count=3 coalesce=0".
// Text, so an administrator can read it with getfattr.
func (g Geometry) Encode() []byte {
	c := 0
	if g.Coalesce {
		c = 1
	}
	return fmt.Appendf(nil, "block-size=%d count=%d coalesce=%d", g.BlockSize, g.Count, c)
}

// ParseGeometry decodes what Encode wrote. Every field must be present,
// once; unknown fields are an error (a newer layout this code cannot read
// must not be read as an older one).
func ParseGeometry(b []byte) (Geometry, error) {
	var g Geometry
	seen := 0
	for f := range strings.FieldsSeq(string(b)) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Geometry{}, fmt.Errorf("stripe geometry %q: field %q is not key=value", b, f)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Geometry{}, fmt.Errorf("stripe geometry %q: %s is not a number", b, k)
		}
		var bit int
		switch k {
		case "block-size":
			bit, g.BlockSize = 1, n
		case "count":
			if n > 1<<16 {
				return Geometry{}, fmt.Errorf("stripe geometry %q: count too large", b)
			}
			bit, g.Count = 2, int(n)
		case "coalesce":
			if n != 0 && n != 1 {
				return Geometry{}, fmt.Errorf("stripe geometry %q: coalesce is not 0 or 1", b)
			}
			bit, g.Coalesce = 4, n == 1
		default:
			return Geometry{}, fmt.Errorf("stripe geometry %q: unknown field %q", b, k)
		}
		if seen&bit != 0 {
			return Geometry{}, fmt.Errorf("stripe geometry %q: %s given twice", b, k)
		}
		seen |= bit
	}
	if seen != 7 {
		return Geometry{}, fmt.Errorf("stripe geometry %q: missing fields", b)
	}
	if err := g.Valid(); err != nil {
		return Geometry{}, fmt.Errorf("stripe geometry %q: %w", b, err)
	}
	return g, nil
}

// Locate returns the child that holds file offset off and the offset of
// that byte in the child's file.
func (g Geometry) Locate(off int64) (child int, childOff int64) {
	k := off / g.BlockSize
	child = int(k % int64(g.Count))
	if g.Coalesce {
		return child, (k/int64(g.Count))*g.BlockSize + off%g.BlockSize
	}
	return child, off
}

// FileOffset is the inverse of Locate: the file offset of byte childOff of
// child's file.
func (g Geometry) FileOffset(child int, childOff int64) int64 {
	if !g.Coalesce {
		return childOff
	}
	row, w := childOff/g.BlockSize, childOff%g.BlockSize
	return (row*int64(g.Count)+int64(child))*g.BlockSize + w
}

// Piece is the part of a file range that lies in one block, and so on one
// child. Split fills Child, ChildOff, Len and Pos; Plan fills Run and
// RunOff.
type Piece struct {
	Child    int   // the child holding the piece
	ChildOff int64 // where the piece starts in the child's file
	Len      int64 // bytes; > 0
	Pos      int64 // where the piece starts in the range (file offset − range start)
	Run      int   // index of the Run that carries the piece (Plan)
	RunOff   int64 // where the piece starts in that run (Plan)
}

// Split appends to dst the pieces of the file range [off, off+n), in file
// order, one per block touched, and returns the extended slice. n ≤ 0
// appends nothing.
func (g Geometry) Split(dst []Piece, off, n int64) []Piece {
	for pos := int64(0); pos < n; {
		cur := off + pos
		l := min(g.BlockSize-cur%g.BlockSize, n-pos)
		child, co := g.Locate(cur)
		dst = append(dst, Piece{Child: child, ChildOff: co, Len: l, Pos: pos})
		pos += l
	}
	return dst
}

// Run is one request to one child: a contiguous range of the child's file
// covering one or more pieces. Without coalesce every piece is its own run
// (a child's blocks are Count blocks apart); with coalesce the pieces a
// child holds in a range are contiguous in its file and make one run.
type Run struct {
	Child    int
	ChildOff int64
	Len      int64
}

// Plan groups pieces (in file order, from Split) into runs, appending them
// to dst, and sets each piece's Run and RunOff. Runs are in the order of
// their first piece; the pieces of one run are in increasing RunOff.
func Plan(dst []Run, pieces []Piece) []Run {
	base := len(dst)
	for i := range pieces {
		p := &pieces[i]
		r := -1
		// A child's latest run is among the last Count runs: pieces cycle
		// over the children in file order. Scanning back to the previous
		// run of the same child is enough.
		for j := len(dst) - 1; j >= base; j-- {
			if dst[j].Child == p.Child {
				if dst[j].ChildOff+dst[j].Len == p.ChildOff {
					r = j
				}
				break
			}
		}
		if r < 0 {
			dst = append(dst, Run{Child: p.Child, ChildOff: p.ChildOff})
			r = len(dst) - 1
		}
		p.Run, p.RunOff = r-base, dst[r].Len
		dst[r].Len += p.Len
	}
	return dst
}

// ChildSize returns the size child's file has when the file is size bytes
// long: the end, in the child's file, of the last byte of the file it
// holds (0 when it holds none). Setattr truncates each child to it.
func (g Geometry) ChildSize(child int, size int64) int64 {
	if size <= 0 {
		return 0
	}
	b, n, c := g.BlockSize, int64(g.Count), int64(child)
	if g.Coalesce {
		row := b * n
		return size/row*b + min(max(size%row-c*b, 0), b)
	}
	last := (size - 1) / b // the file's last block
	if last < c {
		return 0
	}
	k := last - (last-c)%n // the child's last block at or before it
	if k == last {
		return size
	}
	return (k + 1) * b
}

// LogicalSize returns the file's size from its children's sizes: for each
// child, the file offset of the last byte it holds, plus one; the largest
// wins. sizes[i] is child i's size; a missing or empty child counts 0.
func (g Geometry) LogicalSize(sizes []int64) int64 {
	var size int64
	for i, s := range sizes {
		if s > 0 && i < g.Count {
			size = max(size, g.FileOffset(i, s-1)+1)
		}
	}
	return size
}
