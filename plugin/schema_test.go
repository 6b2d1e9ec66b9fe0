package plugin_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/xstack/xstack/plugin"
	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestSchemaDiagnostics: a plugin volume's options are checked against the
// schema the binary declares, with the same file:line:col diagnostics as a
// built-in type's.
func TestSchemaDiagnostics(t *testing.T) {
	bin := checksumBin(t)
	reg := registry(nil)
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"unknown option", `blok-size = "8KiB"`,
			[]string{`test.hcl:9:3`, `Unknown option "blok-size"`, `Did you mean "block-size"?`}},
		{"out of range", `block-size = "4MiB"`,
			[]string{`test.hcl:9:16`, `block-size`, `out of range [512B, 1MiB]`}},
		{"wrong kind", `block-size = ["4KiB"]`, []string{`test.hcl:9:16`, `block-size`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(checksumVolfile(bin, tc.extra), `  block-size = "4KiB"`+"\n", "", 1)
			_, diags := volfile.Parse([]byte(src), "test.hcl", reg, nil)
			err := diags.Err()
			if err == nil {
				t.Fatalf("no diagnostic for\n%s", src)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("diagnostic lacks %q:\n%s", w, msg)
				}
			}
		})
	}

	// A good volfile decodes the plugin's options with their kinds.
	f, diags := volfile.Parse([]byte(checksumVolfile(bin, "")), "test.hcl", reg, nil)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	vs, _ := f.Spec.Volume("cks")
	if got := vs.Options.Size("block-size"); got != 4096 {
		t.Errorf("block-size = %d", got)
	}
	if got := vs.Options.String("table-dir"); got != ".xstack-checksum" {
		t.Errorf("table-dir default = %q", got)
	}

	// A binary that is not there is named in the diagnostic.
	_, diags = volfile.Parse([]byte(checksumVolfile("/nonexistent/plugin", "")), "test.hcl", reg, nil)
	if err := diags.Err(); err == nil || !strings.Contains(err.Error(), "/nonexistent/plugin") {
		t.Errorf("missing binary: %v", err)
	}
}

// TestChecksumRefused: a binary whose sha256 does not match the volfile's
// is refused at load time (SchemaFor) and at start (Init), with both sums
// in the message; the right sum is accepted.
func TestChecksumRefused(t *testing.T) {
	bin := checksumBin(t)
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("ab", 32)
	reg := registry(nil)

	_, diags := volfile.Parse([]byte(checksumVolfile(bin, `sha256 = "`+bad+`"`)), "test.hcl", reg, nil)
	err = diags.Err()
	if err == nil {
		t.Fatal("a wrong sha256 was accepted")
	}
	for _, w := range []string{"test.hcl:5:1", "does not match its sha256", good, bad} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("diagnostic lacks %q:\n%v", w, err)
		}
	}

	// At Init (a graph built from a Spec, bypassing the volfile check).
	spec := xlatortest.Chain("plugin", "mem")
	o := xlator.NewOptions()
	o.Set("path", xlator.Value{Kind: xlator.KindPath, Str: bin}, true)
	o.Set("sha256", xlator.Value{Kind: xlator.KindString, Str: bad}, true)
	spec.Volumes[0].Options = o
	g, err := xlator.New(spec, reg, xlatortest.NewEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	err = g.Init()
	if !errors.Is(err, plugin.ErrChecksum) {
		t.Fatalf("Init: %v, want ErrChecksum", err)
	}
	t.Logf("refused: %v", err)

	v := open(t, checksumVolfile(bin, `sha256 = "`+strings.ToUpper(good)+`"`), reg, nil)
	if _, err := v.Stat("/"); err != nil {
		t.Fatal(err)
	}
}
