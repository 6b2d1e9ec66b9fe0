package convert

import (
	"fmt"
	"strings"
)

// Pos is a place in the GlusterFS volfile: 1-based line and column.
type Pos struct {
	Line, Col int
}

// Problem is one thing wrong with, or refused in, the GlusterFS volfile.
type Problem struct {
	Pos Pos
	Msg string
}

// Error holds every problem found, in source order.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, p.Pos.Line, p.Pos.Col, p.Msg)
	}
	return b.String()
}

// gvolume is one volume ... end-volume block as written.
type gvolume struct {
	name       string
	pos        Pos // of the name
	typ        string
	typPos     Pos
	subvolumes []gref
	subPos     Pos
	options    []goption
}

type gref struct {
	name string
	pos  Pos
}

type goption struct {
	key, value string
	pos        Pos // of the key
	valPos     Pos
}

// token is a word of a line, as GlusterFS's lexer (graph.l) takes them: a
// run of characters other than blanks, quotes and backslashes, or a
// string in double quotes, where a backslash takes the next character as
// it is.
type token struct {
	s   string
	pos Pos
}

// tokens splits line n into words; a word beginning with # begins a
// comment that runs to the end of the line.
func tokens(line string, n int) ([]token, *Problem) {
	var out []token
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			return out, nil
		case c == '\\':
			return nil, &Problem{Pos{n, i + 1}, "a backslash outside a quoted string"}
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				b.WriteByte(line[j])
			}
			if j == len(line) {
				return nil, &Problem{Pos{n, i + 1}, "a quoted string that does not end on its line"}
			}
			out = append(out, token{b.String(), Pos{n, i + 1}})
			i = j + 1
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t\r\"\\", rune(line[j])) {
				j++
			}
			out = append(out, token{line[i:j], Pos{n, i + 1}})
			i = j
		}
	}
	return out, nil
}

// parse reads the classic volfile grammar: volume NAME, type T,
// option KEY VALUE, subvolumes A B ..., end-volume. It collects every
// syntax problem it can.
func parse(src []byte) ([]*gvolume, []Problem) {
	var (
		vols  []*gvolume
		probs []Problem
		cur   *gvolume
		seen  = map[string]Pos{}
	)
	bad := func(p Pos, format string, args ...any) {
		probs = append(probs, Problem{p, fmt.Sprintf(format, args...)})
	}
	lines := strings.Split(string(src), "\n")
	for i, line := range lines {
		toks, p := tokens(line, i+1)
		if p != nil {
			probs = append(probs, *p)
			continue
		}
		if len(toks) == 0 {
			continue
		}
		kw, args := toks[0], toks[1:]
		switch kw.s {
		case "volume":
			if cur != nil {
				bad(kw.pos, "volume %q begins inside volume %q (line %d), which has no end-volume", argOr(args), cur.name, cur.pos.Line)
				vols = append(vols, cur)
			}
			if len(args) != 1 {
				bad(kw.pos, "volume takes one name, got %d words", len(args))
				cur = &gvolume{pos: kw.pos}
				continue
			}
			cur = &gvolume{name: args[0].s, pos: args[0].pos}
			if p, dup := seen[cur.name]; dup {
				bad(args[0].pos, "volume %q is defined twice (first at line %d)", cur.name, p.Line)
			}
			seen[cur.name] = args[0].pos
		case "end-volume":
			if cur == nil {
				bad(kw.pos, "end-volume without a volume")
				continue
			}
			if len(args) != 0 {
				bad(args[0].pos, "end-volume takes nothing after it")
			}
			if cur.typ == "" && cur.name != "" {
				bad(kw.pos, "volume %q has no type", cur.name)
			}
			vols = append(vols, cur)
			cur = nil
		case "type", "option", "subvolumes":
			if cur == nil {
				bad(kw.pos, "%s outside a volume", kw.s)
				continue
			}
			switch kw.s {
			case "type":
				if len(args) != 1 {
					bad(kw.pos, "type takes one word, got %d", len(args))
					continue
				}
				if cur.typ != "" {
					bad(kw.pos, "volume %q has a second type (the first at line %d)", cur.name, cur.typPos.Line)
					continue
				}
				cur.typ, cur.typPos = args[0].s, args[0].pos
			case "option":
				if len(args) != 2 {
					bad(kw.pos, "option takes a key and one value, got %d words (quote a value with blanks)", len(args))
					continue
				}
				for _, o := range cur.options {
					if o.key == args[0].s {
						bad(args[0].pos, "option %q is given twice in volume %q (first at line %d)", o.key, cur.name, o.pos.Line)
					}
				}
				cur.options = append(cur.options, goption{args[0].s, args[1].s, args[0].pos, args[1].pos})
			case "subvolumes":
				if len(args) == 0 {
					bad(kw.pos, "subvolumes names none")
					continue
				}
				if cur.subvolumes != nil {
					bad(kw.pos, "volume %q has a second subvolumes line (the first at line %d)", cur.name, cur.subPos.Line)
					continue
				}
				cur.subPos = kw.pos
				for _, a := range args {
					cur.subvolumes = append(cur.subvolumes, gref{a.s, a.pos})
				}
			}
		default:
			bad(kw.pos, "unknown keyword %q: a GlusterFS volfile has volume, type, option, subvolumes and end-volume", kw.s)
		}
	}
	if cur != nil {
		bad(cur.pos, "volume %q has no end-volume", cur.name)
		vols = append(vols, cur)
	}
	if len(vols) == 0 && len(probs) == 0 {
		bad(Pos{1, 1}, "no volume in the file")
	}
	return vols, probs
}

func argOr(args []token) string {
	if len(args) == 0 {
		return ""
	}
	return args[0].s
}
