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
		out != "brick0: gfid store: 3 directories, 7 files, 10 entries checked: 0 problems\n"+
			"brick1: gfid store: 3 directories, 7 files, 10 entries checked: 0 problems\n"+
			"stripe: 3 directories, 7 files, 0 others checked: 0 problems\n" || errs != "" {
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
	// The stores' lines come first, in an order that depends on the gfids:
	// they are compared sorted, the stripe's in order.
	wantStores := []string{
		`brick0: gfid store: 3 directories, 6 files, 10 entries checked: 1 problems`,
		`brick0: gfid store: orphan entry: .xstack/gfid/GFIDPATH: its file (307200 bytes) has no name in the brick`,
		`brick1: gfid store: 3 directories, 6 files, 10 entries checked: 3 problems`,
		`brick1: gfid store: no gfid: /d/typed: made behind the stack's back and never looked up`,
		`brick1: gfid store: orphan entry: .xstack/gfid/GFIDPATH: its file (262144 bytes) has no name in the brick`,
		`brick1: gfid store: stale entry: .xstack/gfid/GFIDPATH: no directory of the brick carries its gfid`,
	}
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
	stores, stripeOut := splitCheck(out)
	if code != 1 || !slices.Equal(stores, wantStores) || stripeOut != want || errs != "xstack check: 11 problems found\n" {
		t.Errorf("check of a damaged volume: exit %d\n%s\n%s\nwant\n%s\n%s\nstderr: %s", code,
			strings.Join(stores, "\n"), stripeOut, strings.Join(wantStores, "\n"), want, errs)
	}
	if after := xlatortest.Snapshot(t, dir); !slices.Equal(before, after) {
		t.Errorf("check changed the bricks:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	// Reading a damaged file through the volume is refused, not guessed.
	if code, _, errs := xstack("cat", "-data", dir, stripeVolfile, "/nogeo"); code != 1 || !strings.Contains(errs, "input/output error") {
		t.Errorf("cat of a file without its geometry on one brick: exit %d, %s", code, errs)
	}

	// -repair repairs the stores, not the layouts.
	code, out, errs = xstack("check", "-repair", "-data", dir, stripeVolfile)
	stores, _ = splitCheck(out)
	wantRepaired := []string{
		`brick0: gfid store: 3 directories, 6 files, 10 entries checked: 1 problems, 1 repaired`,
		`brick0: gfid store: orphan entry: .xstack/gfid/GFIDPATH: its file (307200 bytes) has no name in the brick (repaired)`,
		`brick1: gfid store: 3 directories, 6 files, 11 entries checked: 3 problems, 3 repaired`,
		`brick1: gfid store: no gfid: /d/typed: made behind the stack's back and never looked up (repaired)`,
		`brick1: gfid store: orphan entry: .xstack/gfid/GFIDPATH: its file (262144 bytes) has no name in the brick (repaired)`,
		`brick1: gfid store: stale entry: .xstack/gfid/GFIDPATH: no directory of the brick carries its gfid (repaired)`,
	}
	if code != 1 || !slices.Equal(stores, wantRepaired) || errs != "xstack check: 7 problems found\n" {
		t.Errorf("check -repair: exit %d\n%s\nwant\n%s\nstderr: %s", code, strings.Join(stores, "\n"), strings.Join(wantRepaired, "\n"), errs)
	}
	_, out, _ = xstack("check", "-data", dir, stripeVolfile)
	stores, _ = splitCheck(out)
	if want := []string{
		`brick0: gfid store: 3 directories, 6 files, 9 entries checked: 0 problems`,
		`brick1: gfid store: 3 directories, 6 files, 9 entries checked: 0 problems`,
	}; !slices.Equal(stores, want) {
		t.Errorf("check after -repair:\n%s\nwant\n%s", strings.Join(stores, "\n"), strings.Join(want, "\n"))
	}
}

// TestCheckOldBrick: a brick made before the gfid store is reported, and
// -repair gives it every entry.
func TestCheckOldBrick(t *testing.T) {
	dir := stripeVolume(t)
	for _, b := range []string{"brick0", "brick1"} {
		if err := os.RemoveAll(filepath.Join(dir, b, ".xstack", "gfid")); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := xstack("check", "-data", dir, stripeVolfile)
	stores, _ := splitCheck(out)
	want := []string{
		`brick0: gfid store: 3 directories, 1 files, 0 entries checked: 1 problems`,
		`brick0: gfid store: missing entry: .xstack/gfid: the brick has no gfid store (it predates it): xstack check -repair makes every entry`,
		`brick1: gfid store: 3 directories, 1 files, 0 entries checked: 1 problems`,
		`brick1: gfid store: missing entry: .xstack/gfid: the brick has no gfid store (it predates it): xstack check -repair makes every entry`,
	}
	if code != 1 || !slices.Equal(stores, want) {
		t.Errorf("check of old bricks: exit %d\n%s\nwant\n%s", code, strings.Join(stores, "\n"), strings.Join(want, "\n"))
	}
	code, out, errs := xstack("check", "-repair", "-data", dir, stripeVolfile)
	if code != 0 || !strings.Contains(out, "brick0: gfid store: 3 directories, 1 files, 4 entries checked: 3 problems, 3 repaired") {
		t.Errorf("check -repair of old bricks: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := xstack("check", "-data", dir, stripeVolfile); code != 0 {
		t.Errorf("check after -repair: exit %d\n%s%s", code, out, errs)
	}
}

// splitCheck splits check's output into the gfid store lines, sorted, with
// the entries' paths made generic, and the rest, gfids made generic.
func splitCheck(out string) (stores []string, rest string) {
	pathRE := regexp.MustCompile(`\.xstack/gfid/[0-9a-f]{2}/[0-9a-f]{2}/` + gfidRE.String())
	for l := range strings.Lines(out) {
		if strings.Contains(l, ": gfid store: ") {
			stores = append(stores, strings.TrimSuffix(pathRE.ReplaceAllString(l, ".xstack/gfid/GFIDPATH"), "\n"))
		} else {
			rest += gfidRE.ReplaceAllString(l, "GFID")
		}
	}
	slices.Sort(stores)
	return stores, rest
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
		{[]string{"check", "-data", t.TempDir(), "../../volfiles/posix.hcl"}, 0, "no stripe volume: no layout to check", ""},
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
