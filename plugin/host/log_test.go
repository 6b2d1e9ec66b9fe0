package host_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestPluginLogOnce: a line the plugin logs reaches the host's log once,
// through the volume's zap logger, and is not also copied raw to the
// host's stderr (where a CLI's log goes too, so users saw it twice).
func TestPluginLogOnce(t *testing.T) {
	// The raw copy would go to os.Stderr as it is when the plugin starts.
	captured, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = captured
	defer func() { os.Stderr = stderr }()

	core, logs := observer.New(zapcore.DebugLevel)
	// At log-level debug the plugin logs "plugin graph started" once, when
	// its graph is up.
	v := open(t, hcl(`
volume "p" {
  type      = "plugin"
  path      = %q
  log-level = "debug"
}
`, memBin(t)), registry(nil), zap.New(core))
	const line = "plugin graph started"
	count := func() int { return logs.FilterMessage(line).Len() }
	waitFor(t, 10*time.Second, "the plugin's log line", func() bool { return count() > 0 })
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%q is %d times in the host's log, want once", line, n)
	}
	for _, e := range logs.FilterMessage(line).All() {
		if !strings.HasSuffix(e.LoggerName, "p") {
			t.Errorf("logged under %q, want the volume p", e.LoggerName)
		}
	}
	os.Stderr = stderr
	raw, err := os.ReadFile(captured.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), line) {
		t.Errorf("the plugin's line was also copied to the host's stderr:\n%s", raw)
	}
}
