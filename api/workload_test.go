package api_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/statedump"
)

func jsonDump(t *testing.T, v *api.Volume) *statedump.Dump {
	t.Helper()
	var buf bytes.Buffer
	if err := v.Statedump(&buf, statedump.Options{Format: statedump.FormatJSON}); err != nil {
		t.Fatal(err)
	}
	var d statedump.Dump
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// TestDefaultVolfileWorkload is issue 20's target on the default volfile
// without FUSE: after small sequential writes and reads through cache,
// stripe and both posix bricks, a live dump shows slab caches that
// allocated during the workload (each brick's names cache: every gfid
// read and write goes through it), and every counted fop of every
// translator with a minimum latency above zero and a maximum at least the
// minimum.
func TestDefaultVolfileWorkload(t *testing.T) {
	v, err := api.Open("", &api.Options{Vars: map[string]string{"data": t.TempDir(), "mount": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	before := map[string]uint64{}
	for _, s := range jsonDump(t, v).Slabs {
		before[s.Name] = s.Allocs
	}

	f, err := v.Create("f")
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 4096)
	const n = 256 // 1 MiB: every block of both bricks
	for range n {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, 4096)
	for i := range n {
		if _, err := f.ReadAt(got, int64(i)*4096); err != nil || !bytes.Equal(got, chunk) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if _, err := v.Stat("f"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	d := jsonDump(t, v)
	grew := map[string]uint64{}
	for _, s := range d.Slabs {
		if s.Allocs > before[s.Name] {
			grew[s.Name] = s.Allocs - before[s.Name]
		}
	}
	for _, brick := range []string{"brick0", "brick1"} {
		if grew[brick+":names"] == 0 {
			t.Errorf("slab cache %s:names did not allocate during the workload (grew: %v)", brick, grew)
		}
	}
	counted := 0
	for _, x := range d.Xlators {
		for _, fop := range x.Fops {
			if fop.Count == 0 {
				continue
			}
			counted++
			if fop.MinNs <= 0 || fop.MaxNs < fop.MinNs {
				t.Errorf("%s %s: count %d min %d max %d", x.Name, fop.Fop, fop.Count, fop.MinNs, fop.MaxNs)
			}
		}
	}
	if counted == 0 {
		t.Error("no counted fops in the dump")
	}
	t.Logf("slab allocations during the workload: %v; %d counted fops", grew, counted)
}
