package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xstack/xstack/statedump"
)

func profileCmd(c *cli) *cobra.Command {
	var (
		asJSON   bool
		clear    bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "profile [flags] [TARGET]",
		Short: "Show per-translator fop latency and self time of a running stack",
		Long: `Show, for every translator and fop of a running stack, the count, errors,
bytes and average, minimum and maximum latency, and the self time: the
translator's latency less its children's (what GlusterFS's "volume profile
info" shows per brick). Two views: cumulative since the stack started, and
the interval since the last --clear (or, with --interval D, over the next
D). Self time is exact for children called one after another and a lower
bound under translators that call their children in parallel (stripe).

TARGET is the stack's mount point, pid or admin socket; without it, the one
stack of this user that is running.`,
		Example: `  xstack profile ./_xstack/mnt
  xstack profile --clear           # start a new interval
  xstack profile --interval 10s --json`,
		Args: nargs(0, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			if interval < 0 {
				return usageErr("--interval must not be negative")
			}
			sock, err := resolveTarget(args)
			if err != nil {
				return err
			}
			p, err := statedump.FetchProfile(sock, statedump.ProfileOptions{Clear: clear, Interval: interval})
			if err != nil {
				return err
			}
			f := statedump.FormatText
			if asJSON {
				f = statedump.FormatJSON
			}
			return statedump.WriteProfile(c.stdout, p, f)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the profile as JSON (histograms with bucket bounds)")
	cmd.Flags().BoolVar(&clear, "clear", false, "start a new interval after this profile")
	cmd.Flags().DurationVar(&interval, "interval", 0, "profile the next `D` (e.g. 10s) instead of the time since the last --clear")
	return cmd
}

// resolveTarget finds the admin socket of the stack args names (or the
// one running), saying so when the stacks running are another user's.
func resolveTarget(args []string) (string, error) {
	target := ""
	if len(args) == 1 {
		target = args[0]
	}
	sock, err := statedump.Resolve(target, statedump.RunDir())
	if errors.Is(err, statedump.ErrNoStack) {
		if others := othersStacks(); len(others) > 0 {
			return "", fmt.Errorf("%w\n%s", err, othersNote(others))
		}
	}
	return sock, err
}

// rootRunDir is where root's stacks register (statedump.RunDir for root);
// a variable for tests.
var rootRunDir = "/run/xstack"

// othersStacks returns the pids of live stacks registered in root's run
// directory when this user's is another: their registry files are root's
// alone, so only the pids show (statedump.ListRunning takes a stack whose
// registry file it cannot read by its socket's name).
func othersStacks() []int {
	if statedump.RunDir() == rootRunDir {
		return nil
	}
	infos, err := statedump.ListRunning(rootRunDir)
	if err != nil {
		return nil
	}
	pids := make([]int, len(infos))
	for i, info := range infos {
		pids[i] = info.Pid
	}
	return pids
}

func othersNote(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return fmt.Sprintf("root runs xstack (pid %s), registered in %s: its statistics are root's alone; run this as root",
		strings.Join(s, ", "), rootRunDir)
}

// listEntry is a line of `xstack list`.
type listEntry struct {
	Pid        int       `json:"pid"`
	Name       string    `json:"name"`
	Volfile    string    `json:"volfile,omitempty"`
	MountPoint string    `json:"mount_point,omitempty"`
	Started    time.Time `json:"started,omitzero"`
	Uptime     string    `json:"uptime,omitempty"`
	State      string    `json:"state"`
	Socket     string    `json:"socket"`
}

func listCmd(c *cli) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the running stacks this user may see",
		Long: `List the running stacks of this user (for root, every stack root started):
pid, name (the volfile's base name), uptime, state, mount point and
volfile, from the registry files and admin sockets in the run directory
($XSTACK_RUN_DIR, /run/xstack for root, else $XDG_RUNTIME_DIR). The state
is "running" when the stack's admin socket answers, "no answer" when it
does not (a stack stuck or stopping), "not yours" when it belongs to
another user. For another user, root's stacks are named by pid only.`,
		Example: `  xstack list
  xstack list --json`,
		Args: nargs(0, 0),
		RunE: func(*cobra.Command, []string) error {
			infos, err := statedump.ListRunning(statedump.RunDir())
			if err != nil {
				return err
			}
			var out []listEntry
			for _, i := range infos {
				e := listEntry{Pid: i.Pid, Name: i.Name, Volfile: i.Volfile, MountPoint: i.MountPoint,
					Started: i.Started, State: probe(i.Socket), Socket: i.Socket}
				if !i.Started.IsZero() {
					e.Uptime = time.Since(i.Started).Round(time.Second).String()
				}
				out = append(out, e)
			}
			for _, pid := range othersStacks() {
				out = append(out, listEntry{Pid: pid, Name: "?", State: "root's",
					Socket: filepath.Join(rootRunDir, "xstack-"+strconv.Itoa(pid)+".sock")})
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				if out == nil {
					out = []listEntry{}
				}
				return enc.Encode(out)
			}
			if len(out) == 0 {
				fmt.Fprintf(c.stderr, "no running xstack in %s\n", statedump.RunDir())
				return nil
			}
			w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PID\tNAME\tUPTIME\tSTATE\tMOUNT\tVOLFILE")
			for _, e := range out {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Pid, e.Name, dash(e.Uptime), e.State, dash(e.MountPoint), dash(e.Volfile))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

// probe says whether the admin socket at sock answers a connection.
func probe(sock string) string {
	conn, err := net.DialTimeout("unix", sock, time.Second)
	switch {
	case err == nil:
		conn.Close()
		return "running"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "not yours"
	}
	return "no answer"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
