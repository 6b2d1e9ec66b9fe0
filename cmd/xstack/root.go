package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Command groups, in the order `xstack -h` lists them.
var groups = []*cobra.Group{
	{ID: "stack", Title: "Run a stack:"},
	{ID: "files", Title: "Work on a volume's files, without FUSE:"},
	{ID: "volfile", Title: "Check and explain volfiles:"},
	{ID: "inspect", Title: "Inspect:"},
}

// newRoot builds the command tree, writing to c. *started turns true once
// cobra has accepted the command line and the command runs: an error
// before that is a usage error.
func newRoot(c *cli) (*cobra.Command, *bool) {
	started := new(bool)
	root := &cobra.Command{
		Use:   "xstack",
		Short: "GlusterFS-style IO translator stacks in Go",
		Long: `xstack runs IO translator stacks described by volfiles (HCL): it mounts
them with FUSE, works on their files without FUSE, validates and draws
volfiles, and dumps the statistics of a running stack.

VOLFILE may be @default for the embedded default volfile. Flags may come
before or after the arguments; long flags take one dash or two (-data DIR
and --data DIR are the same). Exit status: 0 success, 1 failure, 2 usage
error.`,
		Example: `  xstack run                      # the default volfile, mounted at ./_xstack/mnt
  xstack run --daemon --log-file /var/log/xstack.log
  xstack validate volfiles/stripe.hcl
  xstack ls --data /srv/xstack @default / -l
  xstack help run`,
		Version:           version(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		PersistentPreRun:  func(*cobra.Command, []string) { *started = true },
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{2, err.Error()} })
	root.AddGroup(groups...)
	root.SetHelpCommand(helpCmd())
	root.SetCompletionCommandGroupID("inspect")
	for _, cmd := range []*cobra.Command{runCmd(c), mountCmd(c), umountCmd(c)} {
		cmd.GroupID = "stack"
		root.AddCommand(cmd)
	}
	for _, cmd := range fileCmds(c) {
		cmd.GroupID = "files"
		root.AddCommand(cmd)
	}
	for _, cmd := range []*cobra.Command{validateCmd(c), graphCmd(c), typesCmd(c), checkCmd(c), convertCmd(c)} {
		cmd.GroupID = "volfile"
		root.AddCommand(cmd)
	}
	for _, cmd := range []*cobra.Command{listCmd(c), dumpCmd(c), profileCmd(c), versionCmd(c)} {
		cmd.GroupID = "inspect"
		root.AddCommand(cmd)
	}
	root.AddCommand(genManCmd(c))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	if comp, _, err := root.Find([]string{"completion"}); err == nil && comp != root {
		// Cobra shows its help for an unknown shell, with exit status 0.
		comp.Short = "Print a shell completion script (bash, zsh, fish, powershell)"
		comp.Args = cobra.ArbitraryArgs
		comp.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("no completion for shell %q: use bash, zsh, fish or powershell", args[0])
			}
			return cmd.Help()
		}
		comp.Example = "  source <(xstack completion bash)\n  xstack completion zsh > \"${fpath[1]}/_xstack\"\n  xstack completion fish > ~/.config/fish/completions/xstack.fish"
	}
	return root, started
}

// helpCmd replaces cobra's help command, which answers a command it does
// not know with the general usage and exit status 0.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Print the synopsis, description, examples and flags of COMMAND, or the list of commands.",
		Example: `  xstack help
  xstack help run`,
		GroupID: "inspect",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var names []cobra.Completion
			if len(args) == 0 {
				for _, c := range cmd.Root().Commands() {
					if c.IsAvailableCommand() && strings.HasPrefix(c.Name(), prefix) {
						names = append(names, cobra.CompletionWithDesc(c.Name(), c.Short))
					}
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageErr("no help for %q: it is not a command", strings.Join(args, " "))
			}
			target.InitDefaultHelpFlag() // as -h would: list it among the flags
			target.InitDefaultVersionFlag()
			return target.Help()
		},
	}
}

// nargs accepts between min and max arguments (max < 0: any number), and
// otherwise is a usage error that shows the command's synopsis.
func nargs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return usageErr("usage: %s", cmd.UseLine())
		}
		return nil
	}
}

// normalizeArgs lets the single-dash long flags of the flag package (-data
// DIR, -log-level=warn) keep working under pflag, which reads -data as the
// shorthands -d -a -t -a: a single-dash argument that names a long flag of
// the command, or is no cluster of its shorthands, gets a second dash.
// Values of flags and everything after "--" are left alone.
func normalizeArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	cmd.InitDefaultHelpFlag() // -help, too
	fs := cmd.Flags()
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var f *pflag.Flag
		switch {
		case strings.HasPrefix(a, "--"):
			f = fs.Lookup(name)
		case len(name) == 1:
			f = fs.ShorthandLookup(name)
		case fs.Lookup(name) != nil || !shorthandCluster(fs, name):
			a = "-" + a
			f = fs.Lookup(name)
		}
		out = append(out, a)
		// A flag that wants a value and has none after "=" takes the next
		// argument, whatever it looks like.
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// shorthandCluster reports whether s is a run of boolean shorthands, such
// as -lr.
func shorthandCluster(fs *pflag.FlagSet, s string) bool {
	for _, r := range s {
		if r >= 0x80 {
			return false // ShorthandLookup panics on a name longer than one byte
		}
		f := fs.ShorthandLookup(string(r))
		if f == nil || f.NoOptDefVal == "" {
			return false
		}
	}
	return true
}
