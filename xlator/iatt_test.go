package xlator_test

import (
	"reflect"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestIattSize holds Iatt's doc comment to its word: Mask fills the
// padding after Blksize, so birth time and mask add 16 bytes to the 128
// every fop that returns attributes copies.
func TestIattSize(t *testing.T) {
	if got := reflect.TypeFor[xlator.Iatt]().Size(); got != 144 {
		t.Errorf("Iatt is %d bytes, want 144 (128 + Btime): did a field land in the padding's place?", got)
	}
}
