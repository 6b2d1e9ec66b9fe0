package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// commands returns the top-level commands, help and completion included.
func commands(t *testing.T) map[string]bool {
	t.Helper()
	root, _ := newRoot(&cli{stdout: os.Stdout, stderr: os.Stderr})
	names := map[string]bool{}
	for _, c := range root.Commands() {
		names[c.Name()] = c.Hidden
	}
	for _, want := range []string{"run", "mount", "umount", "validate", "graph", "types", "dump",
		"ls", "stat", "cat", "rm", "mkdir", "put", "get", "check", "version", "completion", "help", "gen-man"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no command %q", want)
		}
	}
	return names
}

// TestEveryCommandDocumented: every command has a synopsis, a description
// and an example, and `xstack CMD -h`, `xstack CMD --help` and `xstack
// help CMD` print them on stdout with exit status 0.
func TestEveryCommandDocumented(t *testing.T) {
	root, _ := newRoot(&cli{stdout: os.Stdout, stderr: os.Stderr})
	for _, c := range root.Commands() {
		if c.Short == "" || c.Long == "" || (c.Example == "" && !c.Hidden) {
			t.Errorf("command %q lacks a synopsis, a description or an example", c.Name())
		}
	}
	for name := range commands(t) {
		var helps []string
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			code, out, errs := xstack(args...)
			if code != 0 || errs != "" {
				t.Errorf("xstack %s: exit %d, stderr %q", strings.Join(args, " "), code, errs)
			}
			helps = append(helps, out)
		}
		if helps[0] != helps[1] || helps[0] != helps[2] {
			t.Errorf("-h, --help and help differ for %s:\n%s\n---\n%s\n---\n%s", name, helps[0], helps[1], helps[2])
		}
		for _, want := range []string{"Usage:\n  xstack " + name, "Flags:\n"} {
			if !strings.Contains(helps[0], want) {
				t.Errorf("xstack %s -h lacks %q:\n%s", name, want, helps[0])
			}
		}
		if name != "gen-man" && !strings.Contains(helps[0], "Examples:\n") {
			t.Errorf("xstack %s -h shows no example:\n%s", name, helps[0])
		}
	}
	// With no command, the overview: every visible command is listed.
	code, out, _ := xstack()
	for name, hidden := range commands(t) {
		if listed := strings.Contains(out, "\n  "+name+" "); code != 0 || listed == hidden {
			t.Errorf("xstack: exit %d, lists %s: %v (hidden %v)", code, name, listed, hidden)
		}
	}
}

// TestUsageErrors: a wrong command line exits 2 and says what is wrong
// once, on stderr, with where to find the usage; nothing on stdout.
func TestUsageErrors(t *testing.T) {
	vol := "../../volfiles/posix.hcl"
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"bogus"}, `xstack: unknown command "bogus" for "xstack"`},
		{[]string{"rn"}, "Did you mean this?\n\trun"},
		{[]string{"help", "bogus"}, `xstack help: no help for "bogus"`},
		{[]string{"completion", "tcsh"}, `no completion for shell "tcsh"`},
		{[]string{"run", "a", "b"}, "xstack run: usage: xstack run [flags] [VOLFILE]"},
		{[]string{"mount", vol}, "xstack mount: usage: xstack mount [flags] VOLFILE MOUNTPOINT"},
		{[]string{"umount"}, "xstack umount: usage: xstack umount [flags] MOUNTPOINT"},
		{[]string{"validate"}, "xstack validate: usage: xstack validate [flags] VOLFILE"},
		{[]string{"graph", vol, "--format", "svg"}, `xstack graph: --format "svg": use text or dot`},
		{[]string{"types", vol, vol}, "usage: xstack types [flags] [VOLFILE]"},
		{[]string{"dump", "--parts", "memory"}, "xstack dump: "},
		{[]string{"dump", "a", "b"}, "usage: xstack dump [flags] [TARGET]"},
		{[]string{"ls", vol}, "xstack ls: usage: xstack ls [flags] VOLFILE PATH..."},
		{[]string{"put", vol, "a"}, "xstack put: usage: xstack put [flags] VOLFILE LOCALFILE PATH"},
		{[]string{"get", vol, "a", "b", "c"}, "xstack get: usage: xstack get [flags] VOLFILE PATH LOCALFILE"},
		{[]string{"check"}, "xstack check: usage: xstack check [flags] VOLFILE"},
		{[]string{"ls", "-bogus", vol, "/"}, "xstack ls: unknown flag: --bogus"},
		{[]string{"ls", "--bogus", vol, "/"}, "xstack ls: unknown flag: --bogus"},
		{[]string{"ls", vol, "/", "-x"}, "xstack ls: unknown shorthand flag: 'x' in -x"},
		{[]string{"ls", vol, "/", "-data"}, "xstack ls: flag needs an argument: --data"},
		{[]string{"ls", "-var", "novalue", vol, "/"}, `--var wants NAME=VALUE, got "novalue"`},
		{[]string{"ls", "-log-level", "loud", "-data", t.TempDir(), vol, "/"}, `xstack ls: --log-level "loud": use debug, info, warn or error`},
		{[]string{"version", "extra"}, "xstack version: usage: xstack version"},
	}
	for _, tc := range cases {
		code, out, errs := xstack(tc.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.msg) {
			t.Errorf("xstack %s: exit %d, stdout %q, stderr %q; want 2, nothing, %q",
				strings.Join(tc.args, " "), code, out, errs, tc.msg)
			continue
		}
		first, _, _ := strings.Cut(errs, "\n")
		if n := strings.Count(errs, first); n != 1 {
			t.Errorf("xstack %s: the error is printed %d times:\n%s", strings.Join(tc.args, " "), n, errs)
		}
		if !strings.HasSuffix(errs, "--help' for usage.\n") {
			t.Errorf("xstack %s: stderr does not end with where the usage is:\n%s", strings.Join(tc.args, " "), errs)
		}
	}
}

// TestFlagForms: flags work before and after the arguments, with one dash
// or two, with "=" or a separate value, and shorthands cluster.
func TestFlagForms(t *testing.T) {
	dir := stripeVolume(t)
	want := "clean\nd\nempty"
	sorted := func(s string) string {
		l := strings.Fields(s)
		slices.Sort(l)
		return strings.Join(l, "\n")
	}
	for _, args := range [][]string{
		{"ls", "-data", dir, stripeVolfile, "/"},
		{"ls", "--data", dir, stripeVolfile, "/"},
		{"ls", "-data=" + dir, stripeVolfile, "/"},
		{"ls", "--data=" + dir, stripeVolfile, "/"},
		{"ls", stripeVolfile, "/", "-data", dir},
		{"ls", stripeVolfile, "-var", "data=" + dir, "/"},
		{"ls", stripeVolfile, "/", "--var=data=" + dir, "-log-level", "error"},
	} {
		if code, out, errs := xstack(args...); code != 0 || sorted(out) != want {
			t.Errorf("xstack %s: exit %d, %q, %s; want %q", strings.Join(args, " "), code, out, errs, want)
		}
	}
	for _, args := range [][]string{
		{"ls", "-l", "-data", dir, stripeVolfile, "/"},
		{"ls", "-data", dir, stripeVolfile, "/", "-l"},
		{"ls", "--long", "-data", dir, stripeVolfile, "/"},
	} {
		code, out, errs := xstack(args...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "-rw") {
			t.Errorf("xstack %s: exit %d, %q, %s; want a long listing", strings.Join(args, " "), code, out, errs)
		}
	}
	if code, _, errs := xstack("mkdir", "-data", dir, stripeVolfile, "/x/y", "-p"); code != 0 {
		t.Errorf("mkdir VOL PATH -p: exit %d, %s", code, errs)
	}
	if code, _, errs := xstack("rm", "-data", dir, stripeVolfile, "/x", "-r"); code != 0 {
		t.Errorf("rm VOL PATH -r: exit %d, %s", code, errs)
	}
	// After "--", everything is an argument, even what looks like a flag.
	if code, _, errs := xstack("stat", "-data", dir, stripeVolfile, "--", "-l"); code != 1 || !strings.Contains(errs, "-l") {
		t.Errorf("stat VOL -- -l: exit %d, %s; want -l looked up as a path", code, errs)
	}
}

// TestNormalizeArgs: single-dash long flags get their second dash;
// shorthands, values, plain arguments and what follows "--" stay as they are.
func TestNormalizeArgs(t *testing.T) {
	root, _ := newRoot(&cli{stdout: os.Stdout, stderr: os.Stderr})
	cases := []struct{ in, want string }{
		{"ls -data D V /", "ls --data D V /"},
		{"ls -data -l V / -l", "ls --data -l V / -l"}, // -l is the value of -data
		{"ls -data=D -log-level warn V /", "ls --data=D --log-level warn V /"},
		{"ls -help", "ls --help"},
		{"ls -h", "ls -h"},
		{"ls -bogus V", "ls --bogus V"},
		{"ls V / -l -- -data", "ls V / -l -- -data"},
		{"validate -strict V", "validate --strict V"},
		{"graph -format dot V", "graph --format dot V"},
		{"dump -json -parts mem", "dump --json --parts mem"},
		{"run -mount M -daemon -log-file F", "run --mount M --daemon --log-file F"},
		{"umount -l M", "umount -l M"},
		{"check -adopt b1 -var x=y V", "check --adopt b1 --var x=y V"},
		{"ls -é V", "ls --é V"},
		{"bogus -data D", "bogus -data D"},
	}
	for _, tc := range cases {
		got := strings.Join(normalizeArgs(root, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("normalizeArgs(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestVersion: `xstack version` and `xstack --version` print the module
// version, the VCS revision and the Go version from the build information.
func TestVersion(t *testing.T) {
	code, out, errs := xstack("version")
	code2, out2, _ := xstack("--version")
	if code != 0 || code2 != 0 || errs != "" || out != out2 || !strings.HasPrefix(out, "xstack ") || !strings.Contains(out, " go1.") {
		t.Errorf("version: exit %d, %q, %q; --version: exit %d, %q", code, out, errs, code2, out2)
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/xstack/xstack", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionOf(bi), "xstack v1.2.3 (revision abc123 modified, 2026-01-02T03:04:05Z) go1.26.8"; got != want {
		t.Errorf("versionOf = %q, want %q", got, want)
	}
	bi.Settings = nil
	if got, want := versionOf(bi), "xstack v1.2.3 (revision unknown) go1.26.8"; got != want {
		t.Errorf("versionOf without VCS = %q, want %q", got, want)
	}
}

// TestCompletion: the completion scripts for bash, zsh and fish, and the
// completions they ask the binary for: commands, flags and flag values.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errs := xstack("completion", sh)
		if code != 0 || errs != "" || !strings.Contains(out, "xstack") || len(out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes, %s", sh, code, len(out), errs)
		}
	}
	complete := func(args ...string) []string {
		t.Helper()
		code, out, errs := xstack(append([]string{"__complete"}, args...)...)
		if code != 0 {
			t.Fatalf("__complete %s: exit %d, %s", strings.Join(args, " "), code, errs)
		}
		var names []string
		for l := range strings.Lines(out) {
			if !strings.HasPrefix(l, ":") {
				name, _, _ := strings.Cut(strings.TrimSpace(l), "\t")
				names = append(names, name)
			}
		}
		return names
	}
	if got := complete("mo"); !slices.Equal(got, []string{"mount"}) {
		t.Errorf("complete mo: %v", got)
	}
	if got := complete("graph", "--format", ""); !slices.Equal(got, []string{"text", "dot"}) {
		t.Errorf("complete graph --format: %v", got)
	}
	if got := complete("run", "--da"); !slices.Contains(got, "--daemon") || !slices.Contains(got, "--data") {
		t.Errorf("complete run --da: %v", got)
	}
	if got := complete("help", "ve"); !slices.Equal(got, []string{"version"}) {
		t.Errorf("complete help ve: %v", got)
	}
}

// TestGenMan: gen-man writes a man page for xstack and for every command,
// from the same definitions as the help.
func TestGenMan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	if code, _, errs := xstack("gen-man", dir); code != 0 {
		t.Fatalf("gen-man: exit %d, %s", code, errs)
	}
	for name, hidden := range commands(t) {
		page := filepath.Join(dir, "xstack-"+name+".1")
		b, err := os.ReadFile(page)
		if hidden || name == "help" {
			continue // cobra/doc writes no page for these
		}
		if err != nil {
			t.Errorf("no man page for %s: %v", name, err)
			continue
		}
		if !strings.Contains(string(b), ".SH SYNOPSIS") || !strings.Contains(string(b), ".SH EXAMPLE") {
			t.Errorf("%s lacks a synopsis or an example:\n%.400s", page, b)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "xstack.1"))
	if err != nil || !strings.Contains(string(b), "xstack-run(1)") {
		t.Errorf("xstack.1 does not refer to xstack-run(1): %v\n%.400s", err, b)
	}
}
