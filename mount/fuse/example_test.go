package fuse_test

import (
	"log"
	"os"

	"github.com/xstack/xstack/mount/fuse"
	"github.com/xstack/xstack/xlator"
)

// A front end mounts a started graph, serves until the file system is
// unmounted, and stops the graph afterwards.
func ExampleMount() {
	var g *xlator.Graph // built, initialised and started from a volfile
	if err := fuse.Available(); err != nil {
		log.Fatalf("cannot mount (%v); use the file commands instead", err)
	}
	srv, err := fuse.Mount(g, fuse.DefaultConfig("/mnt/xstack"))
	if err != nil {
		log.Fatal(err) // e.g. fuse.ErrMountPointNotEmpty, naming the directory
	}
	defer g.Stop()
	go func() {
		<-interrupted()
		if err := srv.Unmount(); err != nil {
			log.Print(err) // busy: a process still uses the mount
		}
	}()
	srv.Wait()
	log.Printf("served %d requests", srv.Stats().Requests)
}

func interrupted() <-chan os.Signal { return make(chan os.Signal) }
