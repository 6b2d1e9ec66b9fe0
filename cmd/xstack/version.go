package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func versionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print xstack's version and the revision it was built from",
		Long: `Print the module version of xstack, the VCS revision and time it was
built from (with "modified" if the work tree had changes) and the Go
version, as the binary's build information records them. "go install
./cmd/xstack" in a git checkout records the revision; a build with
-buildvcs=false records none ("unknown").`,
		Example: `  xstack version
  xstack --version`,
		Args: nargs(0, 0),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(c.stdout, version())
		},
	}
}

// version describes this binary from its build information:
// "xstack MODULE-VERSION (REVISION[ modified], TIME) GO-VERSION".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "xstack (no build information) " + runtime.Version()
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)" // a test binary records none
	}
	rev, at, modified := "unknown", "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		rev += " modified"
	}
	if at != "" {
		rev += ", " + at
	}
	return fmt.Sprintf("xstack %s (revision %s) %s", v, rev, bi.GoVersion)
}
