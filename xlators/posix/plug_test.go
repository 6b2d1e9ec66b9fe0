package posix

import (
	"strconv"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestManySegmentWriteIsOnePwritev: a writev of more segments than a bio
// holds (write-behind's aggregated writes) reaches the file as bios merged
// by plugging into one request (one pwritev), which the bio section
// counts as merged.
func TestManySegmentWriteIsOnePwritev(t *testing.T) {
	const segs, seg = 1000, 4096
	b := newBrick(t, map[string]string{"health-check-interval": "0", "data-path": "bio"})
	_, fd := b.mustCreate(b.root(), "f")
	defer fd.Unref()
	want := pattern(segs*seg, 3)
	ref := b.env.Iobufs.NewIobref()
	for i := range segs {
		buf := b.env.Iobufs.Get(seg)
		copy(buf.Bytes(), want[i*seg:(i+1)*seg])
		ref.AddRange(buf, 0, seg)
		buf.Unref()
	}
	c := b.call(xlator.FopWritev)
	n, err := b.top().Writev(c, fd, ref, 0)
	c.Done()
	ref.Unref()
	if err != nil || n != segs*seg {
		t.Fatalf("writev: %d, %v", n, err)
	}
	equal(t, "read back", b.mustRead(fd, 0, segs*seg), want)

	kv := map[string]any{}
	for _, s := range b.env.Sections() {
		if s.Name == "bio.l0" {
			for _, e := range s.KVs {
				kv[e.Key] = e.Value
			}
		}
	}
	dev := "device.l0:fd" + strconv.Itoa(fd.Ctx(b.px).(*fileCtx).fd)
	bios := uint64((segs + 255) / 256)
	for key, want := range map[string]any{
		dev + ".submitted.write": bios,
		dev + ".merged":          bios - 1,
		dev + ".requests":        uint64(2), // the write's, and the read's
		dev + ".bytes-written":   uint64(segs * seg),
		"set.active":             int64(0),
	} {
		if kv[key] != want {
			t.Errorf("%s = %v (%T), want %v", key, kv[key], kv[key], want)
		}
	}
}
