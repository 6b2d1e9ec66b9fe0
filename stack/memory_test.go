package stack

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/volfile"
)

// section returns a statedump section's keys and values by key.
func section(t *testing.T, s *Stack, name string) map[string]any {
	t.Helper()
	d, err := statedump.New(statedump.Source{Graph: s.Graph, Env: s.Env})
	if err != nil {
		t.Fatal(err)
	}
	dump, err := d.Collect(statedump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sec := dump.Section(name)
	if sec == nil {
		t.Fatalf("no section %s in the dump", name)
	}
	m := map[string]any{}
	for _, kv := range sec.KVs {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestMemoryPressure: a stack over its memory limit shrinks its slab
// caches, iobuf arenas and mem-pools by itself, and the statedump's
// mem.reclaim section shows what each gave back; the slab reaper runs
// from the start.
func TestMemoryPressure(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: there is nothing to shrink")
	}
	path := writeVolfile(t, "volume \"b\" {\n  type = \"posix\"\n  directory = \""+t.TempDir()+"\"\n}\nmemory {\n  reap-interval = \"10ms\"\n}\n")
	s := mustOpen(t, path, Options{MemoryLimit: 1}) // always over
	env := s.Env

	// Something for each owner to give back: a free slab (which the
	// reaper keeps: ReapKeep 1), an idle arena, and cold heap objects of a
	// pool. The arena is the first of the 2 KiB class, which nothing else
	// uses here: one more page than it holds maps a second, and that page,
	// released first, stays in the P's private slot (which a shrink
	// leaves alone), so the first arena is idle.
	c, err := env.Slabs.NewCache("test:obj", slab.Config{Size: 512, FrontLimit: -1, ReapKeep: 1})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P, one private slot
	bufs := make([]*iobuf.Iobuf, 513)
	for i := range bufs {
		bufs[i] = env.Iobufs.Get(2048)
	}
	for i := len(bufs) - 1; i >= 0; i-- {
		bufs[i].Unref()
	}
	p := mempool.New[[256]byte](env.Pools, "test", "obj", 0)
	if err := p.Put(p.Get()); err != nil {
		t.Fatal(err)
	}
	if err := c.Free(obj); err != nil {
		t.Fatal(err)
	}
	// Two pressure shrinks after the above: the first may have begun
	// before it.
	start := s.Reclaimer.Stats().Pressure
	deadline := time.Now().Add(10 * time.Second)
	for s.Reclaimer.Stats().Pressure < start+2 {
		if time.Now().After(deadline) {
			t.Fatalf("no pressure shrink over the limit: %+v", s.Reclaimer.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := section(t, s, "mem.reclaim")
	for _, k := range []string{"slab.returned-bytes", "iobuf.returned-bytes", "mempool.returned-bytes", "pressure-shrinks", "usage"} {
		if v, ok := m[k]; !ok || fmt.Sprint(v) == "0" {
			t.Errorf("%s = %v, want > 0", k, v)
		}
	}
	if m["limit"] != int64(1) || m["last-shrink"] == "never" {
		t.Errorf("limit %v, last-shrink %v", m["limit"], m["last-shrink"])
	}
	if v := fmt.Sprint(m["slab-reaper.reaps"]); v == "0" || m["slab-reaper.last-reap"] == "never" {
		t.Errorf("the slab reaper has not run: %v", m)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}

// TestMemoryLimitSources: Options.MemoryLimit wins over the volfile's,
// which wins over none.
func TestMemoryLimitSources(t *testing.T) {
	for _, c := range []struct {
		f    *volfile.File
		opt  int64
		want int64
	}{
		{&volfile.File{Memory: &volfile.Memory{Limit: 1 << 30}}, 0, 1 << 30},
		{&volfile.File{Memory: &volfile.Memory{Limit: 1 << 30}}, 5 << 20, 5 << 20},
	} {
		s := &Stack{File: c.f}
		if got := s.memoryLimit(Options{MemoryLimit: c.opt}); got != c.want {
			t.Errorf("memoryLimit(%+v, %d) = %d, want %d", c.f.Memory, c.opt, got, c.want)
		}
	}
}
