package posix

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// TestFallocateMatchesLinux applies each range fop to a file through the
// graph and the same system call to a plain file on the same file system,
// then reads both back: the contents and sizes must match, and the range
// must read as zeroes wherever the operation zeroes it. (GlusterFS 10.3
// acknowledged zero-range without zeroing anything; fsx saw it as
// corruption.)
func TestFallocateMatchesLinux(t *testing.T) {
	const size = 64 << 10
	type op struct {
		name        string
		fop         string // fallocate, discard, zerofill
		mode        uint32
		off, length int64
		zeroes      bool // the range must read as zeroes afterwards
	}
	ops := []op{
		{"allocate keep-size past EOF", "fallocate", xlator.FallocKeepSize, 60 << 10, 64 << 10, false},
		{"allocate extending", "fallocate", 0, 60 << 10, 64 << 10, false},
		{"punch-hole keep-size", "fallocate", xlator.FallocPunchHole | xlator.FallocKeepSize, 4096, 8192, true},
		{"punch-hole unaligned", "fallocate", xlator.FallocPunchHole | xlator.FallocKeepSize, 1000, 10000, true},
		{"punch-hole without keep-size", "fallocate", xlator.FallocPunchHole, 4096, 4096, false},
		{"zero-range inside", "fallocate", xlator.FallocZeroRange, 5000, 15000, true},
		{"zero-range extending", "fallocate", xlator.FallocZeroRange, 60 << 10, 40 << 10, true},
		{"zero-range keep-size past EOF", "fallocate", xlator.FallocZeroRange | xlator.FallocKeepSize, 60 << 10, 40 << 10, false},
		{"discard", "discard", xlator.FallocPunchHole | xlator.FallocKeepSize, 1000, 9000, true},
		{"zerofill inside", "zerofill", xlator.FallocZeroRange, 123, 30000, true},
		{"zerofill extending", "zerofill", xlator.FallocZeroRange, 50 << 10, 30 << 10, true},
	}
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	refDir := t.TempDir()
	for i, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			data := pattern(size, byte(i+1))
			_, fd := b.mustCreate(b.root(), "f"+string(rune('a'+i)))
			b.mustWrite(fd, 0, data)
			ref, err := os.Create(filepath.Join(refDir, "ref"+string(rune('a'+i))))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			if _, err := ref.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			wantErr := unix.Fallocate(int(ref.Fd()), tc.mode, tc.off, tc.length)
			c := b.call(xlator.FopFallocate)
			var gotErr error
			switch tc.fop {
			case "fallocate":
				gotErr = b.top().Fallocate(c, fd, tc.mode, tc.off, tc.length)
			case "discard":
				gotErr = b.top().Discard(c, fd, tc.off, tc.length)
			case "zerofill":
				gotErr = b.top().Zerofill(c, fd, tc.off, tc.length)
			}
			c.Done()
			if errors.Is(wantErr, syscall.EOPNOTSUPP) && gotErr == nil && tc.fop == "zerofill" {
				wantErr = nil // zerofill writes zeroes where zero-range is missing
			}
			if !errors.Is(gotErr, wantErr) && !(gotErr == nil && wantErr == nil) {
				t.Fatalf("error %v, Linux gives %v", gotErr, wantErr)
			}
			fi, _ := ref.Stat()
			st, err := b.fstat(fd)
			if err != nil || st.Size != fi.Size() {
				t.Fatalf("size %d (%v), Linux gives %d", st.Size, err, fi.Size())
			}
			want := make([]byte, fi.Size())
			if _, err := ref.ReadAt(want, 0); err != nil {
				t.Fatal(err)
			}
			got := b.mustRead(fd, 0, int(fi.Size())+4096)
			equal(t, "contents against Linux", got, want)
			if tc.zeroes && wantErr == nil {
				end := min(tc.off+tc.length, int64(len(got)))
				for j := tc.off; j < end; j++ {
					if got[j] != 0 {
						t.Fatalf("byte %d of the range is %#x, want 0", j, got[j])
					}
				}
				if tc.off > 0 && got[tc.off-1] != data[tc.off-1] {
					t.Errorf("byte before the range was changed")
				}
				if end < size && got[end] != data[end] {
					t.Errorf("byte after the range was changed")
				}
			}
		})
	}
}
