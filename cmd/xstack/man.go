package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// genManCmd writes the man pages, generated from the same command
// definitions as the help: xstack.1, xstack-run.1, ….
func genManCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages of xstack and its commands into DIR",
		Long:   "Write a man page (section 1) for xstack and for each of its commands into DIR, created if missing.",
		Args:   nargs(1, 1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			header := &doc.GenManHeader{Title: "XSTACK", Section: "1", Source: "xstack", Manual: "xstack manual"}
			if err := doc.GenManTree(cmd.Root(), header, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "man pages written to %s\n", args[0])
			return nil
		},
	}
}
