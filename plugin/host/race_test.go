//go:build race

package host_test

import "os"

const raceEnabled = true

// Under -race the plugin binaries are race-enabled too, so both sides of
// the protocol are checked; a race in a plugin kills it, which the tests
// see as failing fops.
func init() {
	buildFlags = append(buildFlags, "-race")
	os.Setenv("GORACE", "halt_on_error=1")
}
