package writebehind

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestConcurrentFDs runs writers on their own files and on one shared file
// (two fds, interleaved blocks) while readers read, fstat and fsync the
// same files; every byte written must read back. Run it with -race.
func TestConcurrentFDs(t *testing.T) {
	const (
		files  = 4
		blocks = 96
	)
	e := newTenv(t, map[string]string{"window-size": "64KiB", "total-window-size": "160KiB"})
	ins := make([]*xlator.Inode, files)
	fds := make([]*xlator.FD, files)
	for i := range files {
		ins[i], fds[i] = e.create(fmt.Sprintf("f%d", i))
	}
	shared, sfd := e.create("shared")
	sfd2 := e.open(shared, syscall.O_RDWR)
	block := func(file, b int) []byte { return pattern(kb4, byte(file*31+b)) }

	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := range files {
		wg.Go(func() {
			for b := range blocks {
				if _, err := e.writeErr(fds[i], int64(b*kb4), block(i, b)); err != nil {
					t.Errorf("write f%d block %d: %v", i, b, err)
					return
				}
				if b%17 == 0 {
					if err := e.fsync(fds[i]); err != nil {
						t.Errorf("fsync f%d: %v", i, err)
					}
				}
			}
		})
	}
	for k, fd := range []*xlator.FD{sfd, sfd2} {
		wg.Go(func() {
			for b := k; b < blocks; b += 2 {
				if _, err := e.writeErr(fd, int64(b*kb4), block(files, b)); err != nil {
					t.Errorf("write shared block %d: %v", b, err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for i := range files + 1 {
		readers.Go(func() {
			fd := sfd2
			if i < files {
				fd = e.open(ins[i], syscall.O_RDONLY)
				defer fd.Unref()
			}
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				c := e.call(xlator.FopReadv)
				ref, err := e.g.Top().Readv(c, fd, 2*kb4, int64(n%blocks)*kb4)
				c.Done()
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				ref.Unref()
				c = e.call(xlator.FopFstat)
				_, err = e.g.Top().Fstat(c, fd)
				c.Done()
				if err != nil {
					t.Errorf("fstat: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()

	for i := range files + 1 {
		fd := sfd
		if i < files {
			fd = fds[i]
		}
		got := e.read(fd, 0, blocks*kb4)
		for b := range blocks {
			if !bytes.Equal(got[b*kb4:(b+1)*kb4], block(i, b)) {
				t.Fatalf("file %d block %d differs", i, b)
			}
		}
	}
	for _, fd := range append(fds, sfd, sfd2) {
		fd.Unref()
	}
	if s := e.wb.Stats(); s.HeldBytes != 0 || s.HeldWrites != 0 || s.DirtyFiles != 0 || s.FailedWrites != 0 {
		t.Fatalf("after all fds released: %+v", s)
	}
}
