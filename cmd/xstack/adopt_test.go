package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdoptFlag: a brick replaced by an empty directory is refused, named
// with the flag that accepts it; -adopt NAME accepts it, once for good.
func TestAdoptFlag(t *testing.T) {
	dir := stripeVolume(t)
	b1 := filepath.Join(dir, "brick1")
	if err := os.RemoveAll(b1); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(b1, 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, errs := xstack("ls", "-data", dir, stripeVolfile, "/")
	if code != 1 || !strings.Contains(errs, `brick "brick1" (`+b1+`)`) || !strings.Contains(errs, "-adopt brick1") {
		t.Fatalf("ls over a replaced brick: exit %d, %s", code, errs)
	}
	if code, _, errs := xstack("mkdir", "-adopt", "brick1", "-data", dir, stripeVolfile, "/new"); code != 0 {
		t.Fatalf("mkdir -adopt brick1: exit %d, %s", code, errs)
	}
	if code, _, errs := xstack("stat", "-data", dir, stripeVolfile, "/new"); code != 0 {
		t.Fatalf("stat after the adoption: exit %d, %s", code, errs)
	}
	// What the lost brick held is gone: those files read EIO, not zeroes.
	if code, _, errs := xstack("cat", "-data", dir, stripeVolfile, "/clean"); code != 1 || !strings.Contains(errs, "input/output error") {
		t.Fatalf("cat of a file whose blocks were on the lost brick: exit %d, %s", code, errs)
	}
	if code, _, errs := xstack("ls", "-adopt", "brick7", "-data", dir, stripeVolfile, "/"); code != 1 || !strings.Contains(errs, `cannot adopt "brick7"`) {
		t.Fatalf("ls -adopt of an unknown brick: exit %d, %s", code, errs)
	}
}
