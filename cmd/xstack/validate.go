package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/builtin"
)

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("validate", stderr, &c)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{2, "usage: xstack validate [flags] VOLFILE"}
	}
	f, err := stack.LoadFile(volfilePath(fs.Arg(0)), stack.Options{Vars: c.varsMap()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok: %d volumes, top %q\n", fs.Arg(0), len(f.Spec.Volumes), f.Spec.Top)
	return nil
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
	f, err := stack.LoadFile(volfilePath(fs.Arg(0)), stack.Options{Vars: c.varsMap()})
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
	reg := builtin.Registry()
	for _, name := range reg.Names() {
		t, _ := reg.Lookup(name)
		fmt.Fprintf(stdout, "%s — %s\n", name, t.Doc)
		opts := append(xlator.Schema(nil), t.Options...)
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
			fmt.Fprintf(stdout, "    %-24s %-9s%s%s  %s\n", o.Name, o.Kind, req, def, o.Doc)
		}
	}
	return nil
}
