package main

import (
	"github.com/spf13/cobra"

	"github.com/xstack/xstack/statedump"
)

func dumpCmd(c *cli) *cobra.Command {
	var (
		asJSON bool
		parts  string
	)
	cmd := &cobra.Command{
		Use:   "dump [flags] [TARGET]",
		Short: "Print the statedump of a running stack",
		Long: `Print the statedump of a running stack, read through its admin socket:
mem-pools, iobufs, slabs, bios, the calls in flight, each translator's
private state, fds, inodes and fop statistics, in GlusterFS's statedump
sections and keys, or as JSON (the statedump.Dump schema).

TARGET is the stack's mount point, pid or admin socket; without it, the
one stack of this user that is running. The socket is mode 0600: the same
user or root only. kill -USR1 PID writes the same dump to a file.`,
		Example: `  xstack dump ./_xstack/mnt
  xstack dump --json --parts mem,iobuf 12345`,
		Args: nargs(0, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			// Check the parts first, so a typo is reported before any
			// stack is looked for.
			sel, err := statedump.ParseParts(parts)
			if err != nil {
				return usageErr("%v", err)
			}
			req := statedump.Request{Format: string(statedump.FormatText)}
			if asJSON {
				req.Format = string(statedump.FormatJSON)
			}
			for _, p := range sel {
				req.Parts = append(req.Parts, string(p))
			}
			sock, err := resolveTarget(args)
			if err != nil {
				return err
			}
			return statedump.Fetch(sock, req, c.stdout)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the dump as JSON (the statedump.Dump schema)")
	cmd.Flags().StringVar(&parts, "parts", "", "comma-separated `PARTS`: mem, iobuf, slab, bio, callpool, priv, fd, inode, fops (default all)")
	return cmd
}
