package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/xstack/xstack/volfile/convert"
	"github.com/xstack/xstack/xlators/builtin"
)

func convertCmd(c *cli) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "convert [flags] OLD.vol",
		Short: "Convert a GlusterFS volfile to an xstack volfile",
		Long: `Convert a classic GlusterFS volfile (volume, type, option, subvolumes,
end-volume) to an xstack HCL volfile, printed on stdout or written to -o.

storage/posix, performance/io-cache, performance/write-behind and
cluster/stripe become posix, cache, write-behind and stripe, their options
mapped by name and their sizes, booleans and seconds rewritten in xstack's
units. features/locks and debug/io-stats are left out of the graph, each
with a comment in the output and a note on stderr saying why. Any other
type or option is refused with its line and column and the nearest xstack
equivalent: nothing is dropped silently, and nothing is written when
anything is refused (exit 1). The result is loaded as xstack loads
volfiles before it is written.

Only the volfile is converted: a brick directory GlusterFS used holds
GlusterFS's metadata, and xstack takes an existing directory as a brick
only with -adopt.`,
		Example: `  xstack convert /var/lib/glusterd/vols/gv0/gv0.host1.srv-brick.vol
  xstack convert -o gv0.hcl old.vol && xstack validate gv0.hcl`,
		Args: nargs(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			src, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := convert.Convert(src, args[0], builtin.Registry())
			if err != nil {
				var ce *convert.Error
				if errors.As(err, &ce) {
					return &exitError{1, fmt.Sprintf("%v\n%s: %d problems; nothing written", err, args[0], len(ce.Problems))}
				}
				return err
			}
			for _, n := range r.Notes {
				fmt.Fprintf(c.stderr, "%s:%d:%d: note: %s\n", args[0], n.Pos.Line, n.Pos.Col, n.Msg)
			}
			if output == "" {
				_, err := c.stdout.Write(r.HCL)
				return err
			}
			return os.WriteFile(output, r.HCL, 0o644)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the xstack volfile to `FILE` instead of stdout")
	return cmd
}
