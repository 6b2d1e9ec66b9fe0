package volfile

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xstack/xstack/xlator"
)

// WriteTree draws the graph of s as a text tree from the top, one volume a
// line as "name (type)" followed by the options the volfile set:
//
//	cache (cache) cache-size=32MiB
//	└── stripe (stripe) block-size=128KiB
//	    ├── brick0 (posix) directory=./xstack-data/brick0
//	    └── brick1 (posix) directory=./xstack-data/brick1
//
// Options whose schema was not known at load time (VolumeSpec.Literals,
// a plugin that publishes no schema) follow as written, unchecked.
//
// A volume below several parents is drawn in full once; later occurrences
// say "(see above)". It returns the first write error.
func WriteTree(w io.Writer, s *xlator.Spec) error {
	bw := bufio.NewWriter(w)
	shown := map[string]bool{}
	var draw func(name, prefix, branch, indent string)
	draw = func(name, prefix, branch, indent string) {
		v, ok := s.Volume(name)
		if !ok {
			fmt.Fprintf(bw, "%s%s%s (missing)\n", prefix, branch, name)
			return
		}
		fmt.Fprintf(bw, "%s%s%s (%s)", prefix, branch, v.Name, v.Type)
		if shown[name] {
			bw.WriteString(" (see above)\n")
			return
		}
		shown[name] = true
		for _, o := range v.Options.Names() {
			if v.Options.IsSet(o) {
				val, _ := v.Options.Get(o)
				fmt.Fprintf(bw, " %s=%s", o, FormatValue(val))
			}
		}
		for _, l := range v.Literals {
			if !v.Options.Has(l.Name) {
				fmt.Fprintf(bw, " %s=%s", l.Name, formatLiteral(l.Value))
			}
		}
		bw.WriteByte('\n')
		for i, c := range v.Subvolumes {
			if i == len(v.Subvolumes)-1 {
				draw(c, prefix+indent, "└── ", "    ")
			} else {
				draw(c, prefix+indent, "├── ", "│   ")
			}
		}
	}
	draw(s.Top, "", "", "")
	return bw.Flush()
}

// WriteDot writes the graph of s in Graphviz dot: one box per volume
// labelled with its name and type, edges from parent to child in
// subvolume order, the top drawn bold. Volumes come in Spec order, so the
// output is deterministic. It returns the first write error.
func WriteDot(w io.Writer, s *xlator.Spec) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "digraph %s {\n", dotQuote(s.Source))
	bw.WriteString("\tnode [shape=box, fontname=\"monospace\"];\n")
	for _, v := range s.Volumes {
		style := ""
		if v.Name == s.Top {
			style = ", style=bold"
		}
		fmt.Fprintf(bw, "\t%s [label=%s%s];\n", dotQuote(v.Name), dotQuote(v.Name+"\n("+v.Type+")"), style)
	}
	for _, v := range s.Volumes {
		for _, c := range v.Subvolumes {
			fmt.Fprintf(bw, "\t%s -> %s;\n", dotQuote(v.Name), dotQuote(c))
		}
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// dotQuote quotes s as a dot string: backslash and double quote escaped,
// newline as dot's \n line break.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// FormatValue renders an option value in volfile syntax: sizes with their
// largest exact binary unit, durations as Go durations, maps as
// {glob=value, ...} in pattern order. Strings are quoted only when they
// are empty or hold spaces or quotes.
func FormatValue(v xlator.Value) string {
	switch v.Kind {
	case xlator.KindBool:
		return strconv.FormatBool(v.Bool)
	case xlator.KindInt:
		return strconv.FormatInt(v.Int, 10)
	case xlator.KindSize:
		return xlator.FormatSize(v.Int)
	case xlator.KindDuration:
		return time.Duration(v.Int).String()
	case xlator.KindSizeMap, xlator.KindIntMap:
		parts := make([]string, len(v.Order))
		for i, k := range v.Order {
			n := v.Map[k]
			val := strconv.FormatInt(n, 10)
			if v.Kind == xlator.KindSizeMap {
				val = xlator.FormatSize(n)
			}
			parts[i] = strconv.Quote(k) + "=" + val
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	if v.Str == "" || strings.ContainsAny(v.Str, " \t\n\"'=") {
		return strconv.Quote(v.Str)
	}
	return v.Str
}

// formatLiteral renders a literal not yet decoded as FormatValue renders
// values: numbers and bools bare, strings quoted as FormatValue quotes
// them, objects as {glob=value, ...} in the order written.
func formatLiteral(l xlator.Literal) string {
	switch l.Type {
	case xlator.LitString:
		return FormatValue(xlator.Value{Kind: xlator.KindString, Str: l.Text})
	case xlator.LitObject:
		parts := make([]string, len(l.Keys))
		for i, k := range l.Keys {
			parts[i] = strconv.Quote(k) + "=" + formatLiteral(l.Elems[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case xlator.LitOther:
		return "<" + l.Text + ">"
	}
	return l.Text
}
