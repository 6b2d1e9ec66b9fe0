package main

import (
	"fmt"
	"io"
	"sort"

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

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("validate", stderr, &c)
	strict := fs.Bool("strict", false, "exit 1 on warnings too, such as plugin options left unchecked because the plugin publishes no schema")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{2, "usage: xstack validate [-strict] [flags] VOLFILE"}
	}
	f, warnings, err := load(fs.Arg(0), &c, stderr)
	if err != nil {
		return err
	}
	if warnings > 0 && *strict {
		return &exitError{1, fmt.Sprintf("%s: %s, errors under -strict", fs.Arg(0), plural(warnings, "warning"))}
	}
	note := ""
	if warnings > 0 {
		note = ", " + plural(warnings, "warning")
	}
	fmt.Fprintf(stdout, "%s: ok: %d volumes, top %q%s\n", fs.Arg(0), len(f.Spec.Volumes), f.Spec.Top, note)
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func cmdGraph(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("graph", stderr, &c)
	format := fs.String("format", "text", "text or dot")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{2, "usage: xstack graph [-format text|dot] VOLFILE"}
	}
	f, _, err := load(fs.Arg(0), &c, stderr)
	if err != nil {
		return err
	}
	switch *format {
	case "text":
		volfile.WriteTree(stdout, f.Spec)
	case "dot":
		volfile.WriteDot(stdout, f.Spec)
	default:
		return &exitError{2, fmt.Sprintf("-format %q: use text or dot", *format)}
	}
	return nil
}

func cmdTypes(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("types", stderr, &c)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &exitError{2, "usage: xstack types [flags] [VOLFILE]"}
	}
	reg := builtin.Registry()
	for _, name := range reg.Names() {
		t, _ := reg.Lookup(name)
		writeType(stdout, name+" — "+t.Doc, t.Options)
	}
	if fs.NArg() == 0 {
		return nil
	}
	f, _, err := load(fs.Arg(0), &c, stderr)
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
			fmt.Fprintf(stdout, "volume %q, plugin %s — options not known before it starts: %v\n", v.Name, path, err)
			continue
		}
		writeType(stdout, fmt.Sprintf("volume %q, plugin %s: %s — %s", v.Name, path, t.Name, t.Doc), t.Options)
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
