package bio_test

import (
	"fmt"
	"os"

	"github.com/xstack/xstack/runtime/bio"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
)

// Write a page to a file through a device, then read part of it back.
func Example() {
	bufs, _ := iobuf.New(iobuf.Config{})
	set, _ := bio.NewBioSet("brick0", slab.NewRegistry(), mempool.NewRegistry(nil), 4)
	f, _ := os.CreateTemp("", "brick")
	defer os.Remove(f.Name())
	defer f.Close()
	dev := bio.NewDevice(int(f.Fd()), bio.DeviceConfig{Name: "brick0"})
	defer dev.Close()

	page := bufs.Get(4096)
	copy(page.Bytes(), "hello, block layer")
	w := set.Alloc(1)
	w.Op, w.Offset = bio.OpWrite, 100
	w.AddPage(page, 0, 18) // the bio takes its own reference on page
	page.Unref()
	if err := dev.SubmitWait(w); err != nil {
		fmt.Println("write:", err)
	}
	w.Put() // drops the bio's reference: the page goes back to the pool

	page = bufs.Get(4096)
	r := set.Alloc(1)
	r.Op, r.Offset = bio.OpRead, 107
	r.AddPage(page, 0, 4096) // asks for more than the file holds
	page.Unref()
	err := dev.SubmitWait(r)
	fmt.Printf("read %d bytes, err %v: %q\n", r.Done(), err, r.Vec(0)[:r.Done()])
	r.Put()

	st := dev.Stats()
	fmt.Println("completed", st.Completed, "in flight", st.InFlight, "bios active", set.Stats().Active)
	// Output:
	// read 11 bytes, err <nil>: "block layer"
	// completed 2 in flight 0 bios active 0
}
