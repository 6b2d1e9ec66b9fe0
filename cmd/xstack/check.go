package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/stripe"
)

// checkCmd is `xstack check VOLFILE`, a file system check's dry run: it
// starts the volume read-only and walks every stripe volume of the graph
// through the stripe's children (stripe.Stripe.Check), printing one line
// per file whose layout differs between them. Exit 0: clean; 1: problems
// (or the volume could not be checked); 2: usage.
func checkCmd(c *cli) *cobra.Command {
	var co common
	cmd := &cobra.Command{
		Use:   "check [flags] VOLFILE",
		Short: "List files whose layout differs between a stripe's children",
		Long: `Walk every stripe volume of VOLFILE, read-only, and print one line per
file whose layout is inconsistent across the stripe's children: missing on
some child, types or gfids that differ, a geometry xattr missing,
unreadable, different between children or made for another child count, a
directory a child cannot list. A directory with a problem is not entered.
Nothing is written to the bricks; bricks a running stack owns are refused.
Exit status: 0 clean, 1 problems found (or the check failed), 2 usage.`,
		Example: `  xstack check --data /srv/xstack @default`,
		Args:    nargs(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			return check(c, args[0], &co)
		},
	}
	co.addFlags(cmd.Flags(), "warn")
	return cmd
}

func check(c *cli, arg string, co *common) error {
	stdout := c.stdout
	log, err := co.logger(c.stderr)
	if err != nil {
		return err
	}
	// Read-only: posix changes nothing in the bricks (no gfid stamps, no
	// health file, no brick identity) and shares the bricks' lock, so a
	// running stack's bricks are refused; NoCreate: a mistyped -data is
	// an error, not an empty volume.
	st, err := stack.Open(volfilePath(arg), stack.Options{Vars: co.varsMap(), Logger: log,
		ReadOnly: true, NoCreate: true, Adopt: co.adopt})
	if err != nil {
		return err
	}
	defer st.Close()

	var stripes []*stripe.Stripe
	for _, v := range st.Graph.Spec().Volumes {
		if v.Type != stripe.TypeName {
			continue
		}
		if s, ok := xlator.Unwrap(st.Graph.Xlator(v.Name)).(*stripe.Stripe); ok {
			stripes = append(stripes, s)
		}
	}
	if len(stripes) == 0 {
		fmt.Fprintf(stdout, "%s: no stripe volume: nothing to check\n", arg)
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	call := st.Graph.Calls().Begin(ctx, xlator.FopLookup,
		xlator.Creds{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Pid: uint32(os.Getpid())}, 0)
	defer call.Done()
	var problems uint64
	for _, s := range stripes {
		stats, err := s.Check(call, func(p stripe.Problem) { fmt.Fprintf(stdout, "%s: %s\n", s.Name(), p) })
		problems += stats.Problems
		if err != nil {
			return fmt.Errorf("volume %q: check stopped: %w", s.Name(), err)
		}
		fmt.Fprintf(stdout, "%s: %d directories, %d files, %d others checked: %d problems\n",
			s.Name(), stats.Dirs, stats.Files, stats.Others, stats.Problems)
	}
	if problems > 0 {
		return &exitError{1, fmt.Sprintf("%d problems found", problems)}
	}
	return nil
}
