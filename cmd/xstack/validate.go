package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/builtin"
)

// load loads the volfile arg names for a command that only reads it
// (validate, graph, types): errors come back as the *volfile.Diagnostics,
// warnings are written to stderr and counted. Like every load, it runs
// no plugin binary.
func load(arg string, c *common, stderr io.Writer) (*volfile.File, int, error) {
	f, diags := stack.Load(volfilePath(arg), stack.Options{Vars: c.varsMap()})
	if diags.HasErrors() {
		return nil, 0, diags
	}
	if diags == nil {
		return f, 0, nil
	}
	diags.Write(stderr, false, 100)
	return f, len(diags.Diags), nil
}

func validateCmd(c *cli) *cobra.Command {
	var (
		co     common
		strict bool
	)
	cmd := &cobra.Command{
		Use:   "validate [flags] VOLFILE",
		Short: "Check a volfile, running nothing it names",
		Long: `Load VOLFILE and check it as a start would: syntax, variables, volume
types and their options, the graph, plugin options against the schema a
plugin publishes beside its binary. No plugin binary runs and no brick is
touched, so an untrusted volfile is safe to validate.

Diagnostics go to stderr with file:line:col, the source line and a fix.
Exit status 0 when the volfile is good, 1 when it has errors; warnings
(such as plugin options left unchecked because the plugin publishes no
schema) are shown, and are errors under --strict.`,
		Example: `  xstack validate volfiles/stripe.hcl
  xstack validate --strict -var data=/srv/xstack my.hcl`,
		Args: nargs(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, warnings, err := load(args[0], &co, c.stderr)
			if err != nil {
				return err
			}
			if warnings > 0 && strict {
				return &exitError{1, fmt.Sprintf("%s: %s, errors under -strict", args[0], plural(warnings, "warning"))}
			}
			note := ""
			if warnings > 0 {
				note = ", " + plural(warnings, "warning")
			}
			fmt.Fprintf(c.stdout, "%s: ok: %d volumes, top %q%s\n", args[0], len(f.Spec.Volumes), f.Spec.Top, note)
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 on warnings too, such as plugin options left unchecked because the plugin publishes no schema")
	co.addFlags(cmd.Flags(), "info")
	return cmd
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func graphCmd(c *cli) *cobra.Command {
	var (
		co     common
		format string
	)
	cmd := &cobra.Command{
		Use:   "graph [flags] VOLFILE",
		Short: "Draw a volfile's graph",
		Long: `Draw the graph of translators VOLFILE describes, from the top down, with
each volume's options: as an indented tree (--format text) or in
Graphviz's dot language (--format dot). Like validate, it runs nothing.`,
		Example: `  xstack graph @default
  xstack graph --format dot volfiles/stripe.hcl | dot -Tsvg > stripe.svg`,
		Args: nargs(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			if format != "text" && format != "dot" {
				return usageErr("--format %q: use text or dot", format)
			}
			f, _, err := load(args[0], &co, c.stderr)
			if err != nil {
				return err
			}
			if format == "dot" {
				volfile.WriteDot(c.stdout, f.Spec)
			} else {
				volfile.WriteTree(c.stdout, f.Spec)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output `FORMAT`: text or dot")
	co.addFlags(cmd.Flags(), "info")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "dot"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func typesCmd(c *cli) *cobra.Command {
	var co common
	cmd := &cobra.Command{
		Use:   "types [flags] [VOLFILE]",
		Short: "List translator types and their options",
		Long: `List every translator type built into xstack with its options: kind,
default and what each does. With VOLFILE, also the options each of its
plugin volumes publishes (the schema beside the plugin's binary), without
running the plugin.`,
		Example: `  xstack types
  xstack types my-plugins.hcl`,
		Args: nargs(0, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			return types(c, args, &co)
		},
	}
	co.addFlags(cmd.Flags(), "info")
	return cmd
}

func types(c *cli, args []string, co *common) error {
	reg := builtin.Registry()
	for _, name := range reg.Names() {
		t, _ := reg.Lookup(name)
		writeType(c.stdout, name+" — "+t.Doc, t.Options)
	}
	if len(args) == 0 {
		return nil
	}
	f, _, err := load(args[0], co, c.stderr)
	if err != nil {
		return err
	}
	for _, v := range f.Spec.Volumes {
		if v.Type != host.TypeName {
			continue
		}
		path := v.Options.String("path")
		t, err := host.ReadSchema(path)
		if err != nil {
			fmt.Fprintf(c.stdout, "volume %q, plugin %s — options not known before it starts: %v\n", v.Name, path, err)
			continue
		}
		writeType(c.stdout, fmt.Sprintf("volume %q, plugin %s: %s — %s", v.Name, path, t.Name, t.Doc), t.Options)
	}
	return nil
}

// writeType writes a type's header line and its options, sorted by name.
func writeType(w io.Writer, header string, schema xlator.Schema) {
	fmt.Fprintln(w, header)
	opts := append(xlator.Schema(nil), schema...)
	sort.SliceStable(opts, func(i, j int) bool { return opts[i].Name < opts[j].Name })
	for _, o := range opts {
		def := ""
		if o.Default != "" {
			def = " (default " + o.Default + ")"
		}
		req := ""
		if o.Required {
			req = " required"
		}
		fmt.Fprintf(w, "    %-24s %-9s%s%s  %s\n", o.Name, o.Kind, req, def, o.Doc)
	}
}
