// Package convert turns a classic GlusterFS volfile (volume, type,
// option, subvolumes, end-volume) into an xstack HCL volfile.
//
// Each GlusterFS type that has an xstack counterpart becomes that type,
// its options mapped by name, with sizes, booleans and seconds rewritten
// in xstack's units (storage/posix, features/locks, performance/io-cache,
// performance/write-behind, cluster/stripe). debug/io-stats is left out
// of the graph (its one subvolume takes its place), with a comment in the
// output and a note that says why. Every other type or option is refused with its line and column,
// and with the nearest xstack equivalent when there is one: nothing is
// dropped silently. The result is then loaded as xstack would load it,
// and a problem found there is reported at the GlusterFS line it came
// from. GlusterFS takes the last volume of the file as the top; so does
// the converted file.
//
// Only the volfile is converted: a brick directory GlusterFS used holds
// GlusterFS's metadata, and xstack takes an existing directory as a brick
// only when told to (-adopt).
package convert

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/xlator"
)

// Result is a converted volfile.
type Result struct {
	// HCL is the xstack volfile.
	HCL []byte
	// Notes say what the conversion changed beyond names and units: the
	// volumes it left out and the options it set, and the warnings of
	// loading the result, each at the GlusterFS line concerned.
	Notes []Problem
}

// Convert converts src, a GlusterFS volfile (filename names it in
// messages), for the translator types of reg. It returns every problem
// it finds as an *Error.
func Convert(src []byte, filename string, reg *xlator.Registry) (*Result, error) {
	c := &converter{reg: reg, byName: map[string]*gvolume{}, kinds: map[*gvolume]kind{}}
	vols, probs := parse(src)
	c.probs = probs
	for _, v := range vols {
		if v.name != "" {
			if _, dup := c.byName[v.name]; !dup {
				c.byName[v.name] = v
			}
		}
	}
	for _, v := range vols {
		c.check(v)
	}
	if len(c.probs) == 0 {
		c.emit(vols, filename)
	}
	if len(c.probs) == 0 {
		c.load(filename)
	}
	if len(c.probs) > 0 {
		sortProblems(c.probs)
		return nil, &Error{File: filename, Problems: c.probs}
	}
	sortProblems(c.notes)
	return &Result{HCL: c.out, Notes: c.notes}, nil
}

type converter struct {
	reg    *xlator.Registry
	byName map[string]*gvolume
	kinds  map[*gvolume]kind
	probs  []Problem
	notes  []Problem
	out    []byte
	// lines maps a line of out (1-based) to the GlusterFS position it
	// came from.
	lines map[int]Pos
}

func (c *converter) bad(p Pos, format string, args ...any) {
	c.probs = append(c.probs, Problem{p, fmt.Sprintf(format, args...)})
}

func (c *converter) note(p Pos, format string, args ...any) {
	c.notes = append(c.notes, Problem{p, fmt.Sprintf(format, args...)})
}

// check maps v's type and options, and checks its subvolumes exist.
func (c *converter) check(v *gvolume) {
	for _, s := range v.subvolumes {
		if _, ok := c.byName[s.name]; !ok {
			c.bad(s.pos, "subvolume %q of volume %q is not defined%s", s.name, v.name, nearest(s.name, names(c.byName)))
		}
	}
	if v.typ == "" {
		return
	}
	k, ok := kinds[v.typ]
	switch {
	case !ok:
		c.bad(v.typPos, "GlusterFS type %q has no xstack equivalent known to convert%s", v.typ, nearest(v.typ, typeNames()))
		return
	case k.refuse != "":
		c.bad(v.typPos, "GlusterFS type %q has no xstack equivalent: %s", v.typ, k.refuse)
		return
	case k.fold != "":
		if len(v.subvolumes) != 1 {
			c.bad(v.typPos, "volume %q (%s) can be left out only with one subvolume, it has %d", v.name, v.typ, len(v.subvolumes))
			return
		}
		c.kinds[v] = k
		return
	}
	t, ok := c.reg.Lookup(k.to)
	if !ok {
		c.bad(v.typPos, "GlusterFS type %q would become xstack's %q, which this build does not have", v.typ, k.to)
		return
	}
	c.kinds[v] = k
	for _, o := range v.options {
		if v.typ == "cluster/stripe" && o.key == "block-size" {
			if _, _, err := blockSizes(o.value); err != nil {
				c.bad(o.valPos, "%v", err)
			}
			continue
		}
		r, ok := k.opts[o.key]
		switch {
		case !ok:
			c.bad(o.pos, "option %q of %s has no xstack equivalent known to convert; xstack's %s takes %s", o.key, v.typ, k.to, strings.Join(t.Options.Names(), ", "))
		case r.to == "":
			c.bad(o.pos, "option %q of %s has no xstack equivalent: %s", o.key, v.typ, r.why)
		default:
			if _, err := r.conv(o.value); err != nil {
				c.bad(o.valPos, "option %q: %v", o.key, err)
			}
		}
	}
}

// resolve follows v through left-out volumes to the one that takes its
// place in the converted graph.
func (c *converter) resolve(name string) string {
	for range len(c.byName) + 1 {
		v := c.byName[name]
		if v == nil || c.kinds[v].fold == "" {
			return name
		}
		name = v.subvolumes[0].name
	}
	return name // a cycle: the load reports it
}

// emit writes the HCL volfile and the map from its lines to the source.
func (c *converter) emit(vols []*gvolume, filename string) {
	var b bytes.Buffer
	c.lines = map[int]Pos{}
	line := 1
	put := func(p Pos, format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		b.WriteString(s)
		b.WriteByte('\n')
		for range strings.Count(s, "\n") + 1 {
			if p.Line > 0 {
				c.lines[line] = p
			}
			line++
		}
	}
	none := Pos{}
	put(none, "# Converted from the GlusterFS volfile %s by xstack convert.", filename)
	put(none, "# A brick directory GlusterFS used holds GlusterFS's metadata; xstack")
	put(none, "# takes an existing directory as a brick only when told to (-adopt).")
	for _, v := range vols {
		k := c.kinds[v]
		put(none, "")
		if k.fold != "" {
			by := c.resolve(v.name)
			put(v.pos, "%s", comment(fmt.Sprintf("Volume %q (%s, %s:%d) is left out, %q takes its place: %s.",
				v.name, v.typ, filename, v.pos.Line, by, k.fold)))
			msg := fmt.Sprintf("volume %q (%s) left out, %q takes its place: %s", v.name, v.typ, by, k.fold)
			if len(v.options) > 0 {
				var dropped []string
				for _, o := range v.options {
					dropped = append(dropped, o.key)
				}
				msg += fmt.Sprintf("; its options %s go with it", strings.Join(dropped, ", "))
			}
			c.note(v.typPos, "%s", msg)
			continue
		}
		put(v.pos, "volume %s {", hclString(v.name))
		put(v.typPos, "  type = %s", hclString(k.to))
		if len(v.subvolumes) > 0 {
			subs := make([]string, len(v.subvolumes))
			for i, s := range v.subvolumes {
				subs[i] = hclString(c.resolve(s.name))
			}
			put(v.subPos, "  subvolumes = [%s]", strings.Join(subs, ", "))
		}
		given := map[string]bool{}
		for _, o := range v.options {
			if v.typ == "cluster/stripe" && o.key == "block-size" {
				def, pats, _ := blockSizes(o.value)
				if def != "" {
					put(o.pos, "  block-size = %s", def)
				}
				if pats != "" {
					put(o.pos, "  block-size-pattern = %s", pats)
				}
				given["block-size"] = true
				continue
			}
			r := k.opts[o.key]
			val, _ := r.conv(o.value)
			put(o.pos, "  %s = %s", r.to, val)
			given[r.to] = true
		}
		for _, f := range k.fixed {
			if given[f.name] {
				continue
			}
			put(none, "%s", comment("  ", f.why+"."))
			put(v.typPos, "  %s = %s", f.name, f.value)
			c.note(v.typPos, "volume %q: %s = %s, as %s", v.name, f.name, f.value, f.why)
		}
		put(none, "}")
	}
	if len(vols) > 0 {
		last := vols[len(vols)-1]
		put(none, "")
		put(none, "# GlusterFS takes the last volume of the file as the top.")
		put(last.pos, "top = %s", hclString(c.resolve(last.name)))
	}
	c.out = hclwrite.Format(b.Bytes())
}

// load loads the converted file as xstack would, and reports its
// diagnostics at the GlusterFS lines they concern.
func (c *converter) load(filename string) {
	_, diags := volfile.Parse(c.out, filename+".hcl", c.reg, nil)
	if diags == nil {
		return
	}
	for _, d := range diags.Diags {
		p := Pos{1, 1}
		if d.Subject != nil {
			if q, ok := c.lines[d.Subject.Start.Line]; ok {
				p = q
			}
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		if d.Severity == hcl.DiagError {
			c.bad(p, "the converted volfile does not load: %s", msg)
		} else {
			c.note(p, "warning: %s", msg)
		}
	}
}

// comment writes text as # lines of at most 76 columns, each line
// beginning with indent (optional, the first argument when two are given).
func comment(args ...string) string {
	indent, text := "", args[len(args)-1]
	if len(args) == 2 {
		indent = args[0]
	}
	var lines []string
	line := indent + "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 76 && len(line) > len(indent)+1 {
			lines = append(lines, line)
			line = indent + "#"
		}
		line += " " + w
	}
	return strings.Join(append(lines, line), "\n")
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Pos.Line != ps[j].Pos.Line {
			return ps[i].Pos.Line < ps[j].Pos.Line
		}
		return ps[i].Pos.Col < ps[j].Pos.Col
	})
}

func names(m map[string]*gvolume) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func typeNames() []string {
	out := make([]string, 0, len(kinds))
	for n := range kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// nearest returns "; did you mean X?" for the closest candidate within a
// third of name's length in edits, else "".
func nearest(name string, candidates []string) string {
	best, bestD := "", len(name)/3+1
	for _, c := range candidates {
		if d := distance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
