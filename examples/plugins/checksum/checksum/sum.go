package checksum

import (
	"hash/crc32"

	"github.com/xstack/xstack/runtime/iobuf"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zeroes pads a short block to the block size; read-only.
var zeroes = make([]byte, MaxBlockSize)

// unknown is the table entry of a block whose sum is not known: such a
// block is read unchecked. entry never returns it.
const unknown uint32 = 0xffffffff

// zeroSum returns the CRC32C of a block of bs zero bytes.
func zeroSum(bs int64) uint32 { return crc32.Checksum(zeroes[:bs], castagnoli) }

// entry returns the table entry of a block whose padded CRC32C is crc, in
// a table whose zero-block sum is zero. The XOR makes a block of zeroes
// entry 0, so a hole in the table file (read as zero bytes) stands for a
// hole in the data. The one CRC whose entry would be the unknown marker
// shares its entry with its neighbour instead, so a block that was summed
// is always checked.
func entry(crc, zero uint32) uint32 {
	if e := crc ^ zero; e != unknown {
		return e
	}
	return unknown - 1
}

// update continues crc over bytes [from, from+n) of ref (fewer if ref
// ends first) and returns it with the count of bytes it covered.
func update(crc uint32, ref *iobuf.Iobref, from, n int64) (uint32, int64) {
	pos, want := int64(0), n
	for i := 0; i < ref.Len() && want > 0; i++ {
		seg := ref.Seg(i)
		l := int64(len(seg))
		if pos+l <= from {
			pos += l
			continue
		}
		s := max(from-pos, 0)
		e := min(l, s+want)
		crc = crc32.Update(crc, castagnoli, seg[s:e])
		want -= e - s
		pos += l
	}
	return crc, n - want
}

// sumRange returns the CRC32C of bytes [from, from+n) of ref (fewer if
// ref ends first) padded with zeroes to bs bytes.
func sumRange(ref *iobuf.Iobref, from, n, bs int64) uint32 {
	crc, got := update(0, ref, from, n)
	return crc32.Update(crc, castagnoli, zeroes[:bs-got])
}

// splice returns the CRC32C, padded to bs bytes, of a block that was old
// (zeroes past its end) and now has bytes [ws, we) replaced by
// data[doff:doff+we-ws], or by zeroes when data is nil.
func splice(old, data *iobuf.Iobref, doff, ws, we, bs int64) uint32 {
	ol := int64(old.Size())
	crc, _ := update(0, old, 0, min(ol, ws))
	if ol < ws {
		crc = crc32.Update(crc, castagnoli, zeroes[:ws-ol])
	}
	if data != nil {
		crc, _ = update(crc, data, doff, we-ws)
	} else {
		crc = crc32.Update(crc, castagnoli, zeroes[:we-ws])
	}
	end := we
	if ol > we {
		crc, _ = update(crc, old, we, ol-we)
		end = ol
	}
	return crc32.Update(crc, castagnoli, zeroes[:bs-end])
}
