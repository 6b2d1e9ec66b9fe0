package volfile

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/xstack/xstack/xlator"
)

// edge is a parent-to-child link, with the place the child is named.
type edge struct {
	to  *volume
	rng hcl.Range
}

// graph checks what the volumes form together — unique names, known
// subvolumes, no cycle, one top — and returns the Spec. It returns nil
// when it found an error; so may the caller's other checks.
func (p *parser) graph(vols []*volume, top *ref, fileStart hcl.Range) *xlator.Spec {
	byName := map[string]*volume{}
	var order []*volume
	for _, v := range vols {
		name := v.spec.Name
		if first, dup := byName[name]; dup {
			p.errorf(v.block.LabelRanges[0].Ptr(), fmt.Sprintf("Duplicate volume %q", name),
				"A volume named %q is already defined at %s. Volume names must be unique: rename one of the two.",
				name, posString(first.block.DefRange))
			continue
		}
		byName[name] = v
		order = append(order, v)
	}
	names := make([]string, len(order))
	for i, v := range order {
		names[i] = v.spec.Name
	}

	// broken is set when some subvolume reference could not be followed:
	// the graph is then incomplete, and "unused volume" or "several tops"
	// would only echo that error.
	broken := false
	edges := map[*volume][]edge{}
	used := map[*volume]bool{}
	for _, v := range order {
		if v.subsBroken {
			broken = true
		}
		seen := map[string]hcl.Range{}
		for _, r := range v.subs {
			if first, dup := seen[r.name]; dup {
				p.errorf(r.rng.Ptr(), fmt.Sprintf("Subvolume %q listed twice", r.name),
					"Volume %q already lists %q at %s; a volume is a child of the same parent once.",
					v.spec.Name, r.name, posString(first))
				continue
			}
			seen[r.name] = r.rng
			w := byName[r.name]
			if w == nil {
				broken = true
				p.errorf(r.rng.Ptr(), fmt.Sprintf("Unknown subvolume %q", r.name),
					"Volume %q lists %q as a subvolume, but no volume of that name is defined.%s The volumes are %s.",
					v.spec.Name, r.name, didYouMean(r.name, names), quoteList(names))
				continue
			}
			edges[v] = append(edges[v], edge{to: w, rng: r.rng})
			used[w] = true
		}
	}

	if p.cycles(order, edges) {
		return nil
	}

	var topVol *volume
	if top != nil {
		topVol = byName[top.name]
		if topVol == nil {
			var unused []string
			for _, v := range order {
				if !used[v] {
					unused = append(unused, v.spec.Name)
				}
			}
			p.errorf(top.rng.Ptr(), fmt.Sprintf("Unknown top volume %q", top.name),
				"top names %q, but no volume of that name is defined.%s Volumes no other volume uses: %s.",
				top.name, didYouMean(top.name, names), quoteList(unused))
			return nil
		}
	} else {
		var tops []*volume
		for _, v := range order {
			if !used[v] {
				tops = append(tops, v)
			}
		}
		switch {
		case len(vols) == 0 && p.diags.HasErrors():
			return nil // say a volume block was misspelt: that error says it all
		case len(vols) == 0:
			p.errorf(fileStart.Ptr(), "No volumes",
				"A volfile needs at least one volume block, such as\n  volume \"brick0\" {\n    type      = \"posix\"\n    directory = \"/srv/brick0\"\n  }")
			return nil
		case len(tops) == 0:
			return nil // only duplicates or cycles, reported already
		case len(tops) > 1 && !broken:
			list := make([]string, len(tops))
			for i, t := range tops {
				list[i] = fmt.Sprintf("%q (%s)", t.spec.Name, posString(t.block.DefRange))
			}
			p.errorf(tops[1].block.DefRange.Ptr(), "Several top volumes",
				"No volume uses %s, so each could be the top of the graph. Add top = %q (or another of them) to choose, or list the others in a subvolumes list.",
				joinList(list), tops[0].spec.Name)
			return nil
		case len(tops) > 1:
			return nil
		}
		topVol = tops[0]
	}

	reach := map[*volume]bool{}
	var walk func(v *volume)
	walk = func(v *volume) {
		if reach[v] {
			return
		}
		reach[v] = true
		for _, e := range edges[v] {
			walk(e.to)
		}
	}
	walk(topVol)

	spec := &xlator.Spec{Source: p.filename, Top: topVol.spec.Name}
	for _, v := range order {
		if !reach[v] {
			if !broken {
				p.warnf(v.block.DefRange.Ptr(), fmt.Sprintf("Volume %q is not used", v.spec.Name),
					"It is not below top %q, so it is left out of the graph. Remove it, or list it in a subvolumes list.", topVol.spec.Name)
			}
			continue
		}
		vs := v.spec
		for _, e := range edges[v] {
			vs.Subvolumes = append(vs.Subvolumes, e.to.spec.Name)
		}
		spec.Volumes = append(spec.Volumes, vs)
	}
	return spec
}

// cycles reports every loop in the subvolume graph once, at the reference
// that closes it, and returns whether there was any.
func (p *parser) cycles(order []*volume, edges map[*volume][]edge) bool {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[*volume]int{}
	var stack []*volume
	reported := map[string]bool{}
	var visit func(v *volume)
	visit = func(v *volume) {
		state[v] = onStack
		stack = append(stack, v)
		for _, e := range edges[v] {
			switch state[e.to] {
			case unvisited:
				visit(e.to)
			case onStack:
				i := len(stack) - 1
				for stack[i] != e.to {
					i--
				}
				loop := make([]string, 0, len(stack)-i+1)
				for _, w := range stack[i:] {
					loop = append(loop, w.spec.Name)
				}
				key := canonicalLoop(loop)
				if reported[key] {
					continue
				}
				reported[key] = true
				loop = append(loop, e.to.spec.Name)
				p.errorf(e.rng.Ptr(), "Cycle in the volume graph",
					"The subvolumes form a loop: %s. A volume cannot be below itself; remove one of these subvolume references.",
					strings.Join(loop, " → "))
			}
		}
		stack = stack[:len(stack)-1]
		state[v] = done
	}
	for _, v := range order {
		if state[v] == unvisited {
			visit(v)
		}
	}
	return len(reported) > 0
}

// canonicalLoop names a loop independently of where it was entered: the
// rotation starting at its smallest name.
func canonicalLoop(loop []string) string {
	m := 0
	for i, n := range loop {
		if n < loop[m] {
			m = i
		}
	}
	return strings.Join(append(append([]string{}, loop[m:]...), loop[:m]...), "\x00")
}
