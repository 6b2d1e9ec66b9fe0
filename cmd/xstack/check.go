package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/posix"
	"github.com/xstack/xstack/xlators/stripe"
)

// checkCmd is `xstack check VOLFILE`: it starts the volume and checks
// every posix brick's gfid store (posix.Posix.CheckStore), repairing it
// with -repair, then walks every stripe volume of the graph through the
// stripe's children (stripe.Stripe.Check), printing one line per problem.
// Without -repair the volume is started read-only and nothing is written.
// Exit 0: clean, or every problem repaired; 1: problems left (or the
// volume could not be checked); 2: usage.
func checkCmd(c *cli) *cobra.Command {
	var co common
	var repair bool
	cmd := &cobra.Command{
		Use:   "check [flags] VOLFILE",
		Short: "Check the bricks' gfid stores and list files whose layout differs between a stripe's children",
		Long: `Check VOLFILE's bricks and stripes and print one line per problem.

Each posix brick's gfid store (.xstack/gfid, the entry by which a file is
reached by its identity) is compared with the brick's files: a file
without an entry or without a gfid, an entry that is stale (it leads to
another file, or nowhere), that holds a file of another gfid or whose file
has no name left (an orphan, keeping its space), two files carrying one
gfid, names in the store that are not entries, and files left in
.xstack/unlink by a stack that stopped while they were open. With -repair
these are repaired (duplicate gfids excepted: which file keeps the
identity is yours to say); a brick made before the store gets all its
entries at once.

Then every stripe volume is walked and each file whose layout is
inconsistent across the stripe's children is listed: missing on some
child, types or gfids that differ, a geometry xattr missing, unreadable,
different between children or made for another child count, a directory a
child cannot list. A directory with a problem is not entered. Layouts are
never repaired.

Without -repair nothing is written to the bricks; bricks a running stack
owns are refused either way.
Exit status: 0 clean (or every problem repaired), 1 problems left (or the
check failed), 2 usage.`,
		Example: `  xstack check --data /srv/xstack @default
  xstack check -repair --data /srv/xstack @default`,
		Args: nargs(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			return check(c, args[0], &co, repair)
		},
	}
	co.addFlags(cmd.Flags(), "warn")
	cmd.Flags().BoolVar(&repair, "repair", false, "repair the bricks' gfid stores (opens the volume read-write)")
	return cmd
}

func check(c *cli, arg string, co *common, repair bool) error {
	stdout := c.stdout
	log, err := co.logger(c.stderr)
	if err != nil {
		return err
	}
	// Read-only unless repairing: posix changes nothing in the bricks (no
	// gfid stamps, no health file, no brick identity, no store entries)
	// and shares the bricks' lock, so a running stack's bricks are
	// refused (a repairing check takes the lock exclusively); NoCreate: a
	// mistyped -data is an error, not an empty volume.
	st, err := stack.Open(volfilePath(arg), stack.Options{Vars: co.varsMap(), Logger: log,
		ReadOnly: !repair, NoCreate: true, Adopt: co.adopt})
	if err != nil {
		return err
	}
	defer st.Close()

	var bricks []*posix.Posix
	var stripes []*stripe.Stripe
	for _, v := range st.Graph.Spec().Volumes {
		switch x := xlator.Unwrap(st.Graph.Xlator(v.Name)).(type) {
		case *posix.Posix:
			bricks = append(bricks, x)
		case *stripe.Stripe:
			stripes = append(stripes, x)
		}
	}
	var left uint64 // problems not repaired
	// The stores first: a repair settles the gfids the layout check reads.
	for _, b := range bricks {
		stats, err := b.CheckStore(repair, func(p posix.StoreProblem) { fmt.Fprintf(stdout, "%s: gfid store: %s\n", b.Name(), p) })
		left += stats.Problems - stats.Repaired
		if err != nil {
			return fmt.Errorf("volume %q: gfid store check stopped: %w", b.Name(), err)
		}
		fmt.Fprintf(stdout, "%s: gfid store: %d directories, %d files, %d entries checked: %d problems",
			b.Name(), stats.Dirs, stats.Files, stats.Entries, stats.Problems)
		if repair {
			fmt.Fprintf(stdout, ", %d repaired", stats.Repaired)
		}
		fmt.Fprintln(stdout)
	}
	if len(stripes) == 0 {
		fmt.Fprintf(stdout, "%s: no stripe volume: no layout to check\n", arg)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	call := st.Graph.Calls().Begin(ctx, xlator.FopLookup,
		xlator.Creds{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Pid: uint32(os.Getpid())}, 0)
	defer call.Done()
	for _, s := range stripes {
		stats, err := s.Check(call, func(p stripe.Problem) { fmt.Fprintf(stdout, "%s: %s\n", s.Name(), p) })
		left += stats.Problems
		if err != nil {
			return fmt.Errorf("volume %q: check stopped: %w", s.Name(), err)
		}
		fmt.Fprintf(stdout, "%s: %d directories, %d files, %d others checked: %d problems\n",
			s.Name(), stats.Dirs, stats.Files, stats.Others, stats.Problems)
	}
	if left > 0 {
		return &exitError{1, fmt.Sprintf("%d problems found", left)}
	}
	return nil
}
