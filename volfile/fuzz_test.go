package volfile

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// satisfies the Spec invariants: the top exists, every subvolume names a
// volume of the Spec, and there is no cycle.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*/*.hcl", "../volfiles/*.hcl"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := Parse(src, "fuzz.hcl", reg, nil)
		if diags.HasErrors() {
			if file != nil {
				t.Fatal("File along with errors")
			}
			_ = diags.Error()
			_ = diags.Write(discard{}, true, 40)
			return
		}
		if file == nil || file.Spec == nil {
			t.Fatal("no File and no errors")
		}
		s := file.Spec
		if _, ok := s.Volume(s.Top); !ok {
			t.Fatalf("top %q is not a volume", s.Top)
		}
		state := map[string]int{}
		var visit func(name string)
		visit = func(name string) {
			v, ok := s.Volume(name)
			if !ok {
				t.Fatalf("subvolume %q is not a volume", name)
			}
			state[name] = 1
			for _, c := range v.Subvolumes {
				switch state[c] {
				case 1:
					t.Fatalf("cycle through %q", c)
				case 0:
					visit(c)
				}
			}
			state[name] = 2
		}
		visit(s.Top)
		if len(state) != len(s.Volumes) {
			t.Fatalf("%d volumes, %d reachable from the top", len(s.Volumes), len(state))
		}
		_ = WriteTree(discard{}, s)
		_ = WriteDot(discard{}, s)
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
