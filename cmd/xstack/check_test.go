package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator/xlatortest"
)

const stripeVolfile = "../../volfiles/stripe.hcl" // 128KiB blocks over brick0 and brick1

// xstack runs the command line in this process and returns its exit
// status, stdout and stderr.
func xstack(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// stripeVolume makes brick0 and brick1 under a new temporary directory and
// fills them through the file commands: /clean, /d/ and every name in
// files, each a 300 KiB file (blocks on both bricks), and /empty/.
func stripeVolume(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []string{"brick0", "brick1"} {
		if err := os.Mkdir(filepath.Join(dir, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	local := filepath.Join(t.TempDir(), "local")
	if err := os.WriteFile(local, bytes.Repeat([]byte("0123456789"), 30<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{{"mkdir", "-data", dir, stripeVolfile, "/d", "/empty"}}
	for _, f := range append([]string{"/clean"}, files...) {
		steps = append(steps, []string{"put", "-data", dir, stripeVolfile, local, f})
	}
	for _, s := range steps {
		if code, _, errs := xstack(s...); code != 0 {
			t.Fatalf("xstack %s: exit %d\n%s", strings.Join(s, " "), code, errs)
		}
	}
	return dir
}

// geometryKey is the xattr posix lets stripe keep the geometry in here.
func geometryKey() string {
	if os.Geteuid() == 0 {
		return "trusted.xstack.stripe"
	}
	return "user.xstack.stripe"
}

var gfidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestCheck damages a stripe volume's bricks behind its back, one file per
// kind of damage, and checks xstack check's lines, summary and exit status,
// and that it changed nothing in the bricks; a clean volume exits 0.
func TestCheck(t *testing.T) {
	key := geometryKey()
	dir := stripeVolume(t, "/nogeo", "/bs", "/count", "/junk", "/d/gone", "/d/typed")
	b0, b1 := filepath.Join(dir, "brick0"), filepath.Join(dir, "brick1")
	if code, out, errs := xstack("check", "-data", dir, stripeVolfile); code != 0 ||
		out != "stripe: 3 directories, 7 files, 0 others checked: 0 problems\n" || errs != "" {
		t.Fatalf("check of a clean volume: exit %d\n%s%s", code, out, errs)
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(unix.Removexattr(b1+"/nogeo", key))
	must(unix.Setxattr(b1+"/bs", key, []byte("block-size=262144 count=2 coalesce=0"), 0))
	for _, b := range []string{b0, b1} {
		must(unix.Setxattr(b+"/count", key, []byte("block-size=131072 count=3 coalesce=0"), 0))
	}
	must(unix.Setxattr(b0+"/junk", key, []byte("block-size=lots"), 0))
	must(os.Remove(b0 + "/d/gone"))
	must(os.Remove(b1 + "/d/typed"))
	must(os.Mkdir(b1+"/d/typed", 0o755))
	must(os.Remove(b1 + "/empty"))
	before := xlatortest.Snapshot(t, dir)

	code, out, errs := xstack("check", "-data", dir, stripeVolfile)
	good := key + `="block-size=131072 count=2 coalesce=0"`
	want := strings.Join([]string{
		`stripe: /bs: geometry differs between children (brick0-locks: ` + good + `; brick1-locks: ` + key + `="block-size=262144 count=2 coalesce=0")`,
		`stripe: /count: striped over another number of children than the volume has (brick0-locks: ` + key + `="block-size=131072 count=3 coalesce=0"; brick1-locks: ` + key + `="block-size=131072 count=3 coalesce=0")`,
		`stripe: /d/gone: missing on some children (brick0-locks: missing; brick1-locks: file GFID)`,
		`stripe: /d/typed: types differ between children (brick0-locks: file GFID; brick1-locks: directory GFID)`,
		`stripe: /empty: missing on some children (brick0-locks: directory GFID; brick1-locks: missing)`,
		`stripe: /junk: geometry xattr unreadable (brick0-locks: ` + key + ` unreadable: stripe geometry "block-size=lots": block-size is not a number; brick1-locks: ` + good + `)`,
		`stripe: /nogeo: geometry xattr missing (brick0-locks: ` + good + `; brick1-locks: no trusted.xstack.stripe or user.xstack.stripe)`,
		`stripe: 2 directories, 5 files, 0 others checked: 7 problems`,
	}, "\n") + "\n"
	if got := gfidRE.ReplaceAllString(out, "GFID"); code != 1 || got != want || errs != "xstack check: 7 problems found\n" {
		t.Errorf("check of a damaged volume: exit %d\n%s\nwant\n%s\nstderr: %s", code, got, want, errs)
	}
	if after := xlatortest.Snapshot(t, dir); !slices.Equal(before, after) {
		t.Errorf("check changed the bricks:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	// Reading a damaged file through the volume is refused, not guessed.
	if code, _, errs := xstack("cat", "-data", dir, stripeVolfile, "/nogeo"); code != 1 || !strings.Contains(errs, "input/output error") {
		t.Errorf("cat of a file without its geometry on one brick: exit %d, %s", code, errs)
	}
}

// TestCheckUsage: usage errors exit 2; a volume that cannot be checked
// (missing brick, bricks owned by a running stack) exits 1 naming the
// cause; a volfile without stripe has nothing to check.
func TestCheckUsage(t *testing.T) {
	dir := stripeVolume(t)
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"check"}, 2, "", "usage: xstack check [flags] VOLFILE"},
		{[]string{"check", "-data", dir, stripeVolfile, "extra"}, 2, "", "usage: xstack check [flags] VOLFILE"},
		{[]string{"check", "-bogus", stripeVolfile}, 2, "", "xstack check: unknown flag: --bogus\nRun 'xstack check --help' for usage.\n"},
		{[]string{"check", "-data", filepath.Join(dir, "nope"), stripeVolfile}, 1, "", "does not exist"},
		{[]string{"check", "-data", t.TempDir(), "../../volfiles/posix.hcl"}, 0, "no stripe volume: nothing to check", ""},
	}
	for _, tc := range cases {
		code, out, errs := xstack(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr) {
			t.Errorf("xstack %s: exit %d, stdout %q, stderr %q; want %d, %q, %q",
				strings.Join(tc.args, " "), code, out, errs, tc.code, tc.stdout, tc.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !os.IsNotExist(err) {
		t.Errorf("check created the missing data directory: %v", err)
	}

	vol, err := api.Open(stripeVolfile, &api.Options{Vars: map[string]string{"data": dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer vol.Close()
	code, _, errs := xstack("check", "-data", dir, stripeVolfile)
	if code != 1 || !strings.Contains(errs, fmt.Sprint(os.Getpid())) {
		t.Errorf("check of bricks a running stack owns: exit %d, %s", code, errs)
	}
}
