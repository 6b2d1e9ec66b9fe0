package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readmeBlock returns the body of the first ```lang block after the
// line of README.md that starts with after.
func readmeBlock(t *testing.T, after, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+after)
	if i < 0 {
		t.Fatalf("README.md has no line starting with %q", after)
	}
	s = s[i:]
	j := strings.Index(s, "```"+lang+"\n")
	if j < 0 {
		t.Fatalf("README.md has no ```%s block after %q", lang, after)
	}
	s = s[j+len("```"+lang+"\n"):]
	return s[:strings.Index(s, "```")]
}

// TestPluginSchemaREADME follows the Plugins section of README.md: build
// the checksum plugin, publish its schema and take its sha256 with the
// README's commands, then validate the README's volfile. It validates
// cleanly under -strict; a misspelt plugin option is an error at its
// file:line:col; another binary where the volfile's sha256 points is
// refused; without the schema the option is a warning, an error under
// -strict.
func TestPluginSchemaREADME(t *testing.T) {
	xs := xstackBinary(t)
	dir := t.TempDir()
	install := func(s string) string { return strings.ReplaceAll(s, "/usr/local/lib/xstack", dir) }
	var sum string
	for _, line := range strings.Split(strings.TrimSpace(readmeBlock(t, "**Build**", "sh")), "\n") {
		cmd := exec.Command("sh", "-c", install(line))
		cmd.Dir = ".." // the module root, where the README's commands run
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", install(line), err, out)
		}
		if strings.HasPrefix(line, "sha256sum ") {
			sum = strings.Fields(string(out))[0]
		}
	}
	if sum == "" {
		t.Fatal("the README's commands print no sha256")
	}
	bin := filepath.Join(dir, "checksum")
	src := install(readmeBlock(t, "**Chain**", "hcl"))
	src = strings.Replace(src, `sha256     = "…"`, `sha256     = "`+sum+`"`, 1)
	vol := filepath.Join(dir, "checksum.hcl")
	write := func(s string) {
		if err := os.WriteFile(vol, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	validate := func(args ...string) (int, string) {
		cmd := exec.Command(xs, append(append([]string{"validate", "-var", "data=" + filepath.Join(dir, "data")}, args...), vol)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, strings.Join(strings.Fields(string(out)), " ")
	}

	write(src)
	if code, out := validate("-strict"); code != 0 || !strings.Contains(out, "ok: 2 volumes") {
		t.Fatalf("validate -strict of the README's volfile: exit %d\n%s", code, out)
	}
	line := 1 + strings.Count(src[:strings.Index(src, "block-size")], "\n")
	write(strings.Replace(src, "block-size", "blok-size", 1))
	at := vol + ":" + strconv.Itoa(line) + ":3"
	if code, out := validate(); code != 1 || !strings.Contains(out, at) || !strings.Contains(out, `Did you mean "block-size"?`) {
		t.Errorf("validate of a misspelt option: exit %d, want 1 and the diagnostic at %s\n%s", code, at, out)
	}

	// Another binary at the path: refused by its sha256, without running.
	if err := os.Rename(bin, bin+".good"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\ntouch "+filepath.Join(dir, "ran")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(src)
	if code, out := validate(); code != 1 || !strings.Contains(out, "does not match its sha256") {
		t.Errorf("validate with another binary: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("validate ran the binary")
	}
	if err := os.Rename(bin+".good", bin); err != nil {
		t.Fatal(err)
	}

	// Unpublished: a warning, an error under -strict.
	if err := os.Remove(bin + ".schema.json"); err != nil {
		t.Fatal(err)
	}
	if code, out := validate(); code != 0 || !strings.Contains(out, `Warning: Options of volume "checksum" not checked`) {
		t.Errorf("validate without a schema: exit %d\n%s", code, out)
	}
	if code, out := validate("-strict"); code != 1 || !strings.Contains(out, "errors under -strict") {
		t.Errorf("validate -strict without a schema: exit %d\n%s", code, out)
	}
}
