package xlator

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// ErrBrickMismatch is returned (wrapped, with the brick, what it holds and
// what the volfile expects) by CheckBricks when a brick does not belong
// where the graph puts it.
var ErrBrickMismatch = errors.New("brick does not match the volfile")

// BrickID is what a brick records about its place in a volume, as
// GlusterFS's trusted.glusterfs.volume-id does, so that a graph started
// over the wrong directories refuses to start instead of serving wrong
// data.
type BrickID struct {
	// VolumeID is shared by every brick of the volume: made when the
	// volume's bricks are first initialised together.
	VolumeID string `json:"volume-id"`
	// Brick is the brick's volume name in the volfile.
	Brick string `json:"brick"`
	// Position is where the graph puts the brick under its cluster
	// translators: one "i/n" (child i of n) per translator with more than
	// one child on the way from the top, outermost first, joined by ".";
	// "" for a brick under no cluster translator. The names of the
	// cluster translators are not part of it, so they may be renamed.
	Position string `json:"position"`
}

func (id BrickID) String() string {
	s := fmt.Sprintf("brick %q of volume %s", id.Brick, id.VolumeID)
	if id.Position != "" {
		s += " at position " + id.Position
	}
	return s
}

// Brick is implemented by translators that keep a volume's data in
// storage of their own (posix). The graph checks their identities before
// it starts (CheckBricks).
type Brick interface {
	// BrickDir names the storage, for messages.
	BrickDir() string
	// BrickID returns the identity stored in the brick; ok is false when
	// it has none. empty reports whether the brick holds no files.
	BrickID() (id BrickID, ok, empty bool, err error)
	// SetBrickID stores id in the brick.
	SetBrickID(id BrickID) error
}

// brickPlace is one brick of the graph and where the graph puts it.
type brickPlace struct {
	name  string
	b     Brick
	pos   string // BrickID.Position
	where string // the same for people: `child 1 of 2 of "stripe"`
}

// bricks returns the graph's bricks in graph order with their positions,
// following the first path from the top to each.
func (g *Graph) bricks() []brickPlace {
	var out []brickPlace
	seen := map[*node]bool{}
	var walk func(n *node, pos, where []string)
	walk = func(n *node, pos, where []string) {
		if seen[n] {
			return
		}
		seen[n] = true
		if b, ok := n.x.(Brick); ok {
			out = append(out, brickPlace{name: n.spec.Name, b: b,
				pos: strings.Join(pos, "."), where: strings.Join(where, " of ")})
		}
		subs := n.spec.Subvolumes
		for i, c := range subs {
			p, w := pos, where
			if len(subs) > 1 {
				p = append(pos[:len(pos):len(pos)], strconv.Itoa(i)+"/"+strconv.Itoa(len(subs)))
				w = append([]string{fmt.Sprintf("child %d of %d of %q", i, len(subs), n.spec.Name)}, where...)
			}
			walk(g.byName[c], p, w)
		}
	}
	walk(g.nodes[0], nil, nil)
	return out
}

func (p brickPlace) String() string {
	s := fmt.Sprintf("brick %q (%s)", p.name, p.b.BrickDir())
	if p.where != "" {
		s += ", " + p.where + ","
	}
	return s
}

// CheckBricks compares the identity stored in every brick of the graph
// with where the volfile puts it, after Init and before Start:
//
//   - Bricks that all carry identities must agree on the volume id and
//     each must hold the name and position the volfile gives it; bricks
//     swapped, pointed at another brick's directory, a changed child count
//     or another volume's brick refuse the start with ErrBrickMismatch,
//     naming the brick, what it holds and what the volfile expects.
//   - When no brick carries an identity (a new volume, or bricks made
//     before identities existed), a new volume id is made and stored in
//     every brick.
//   - A brick without an identity among bricks that have one (a new
//     empty directory, a brick restored without its private directory)
//     is refused unless adopt names it; an adopted brick is stamped with
//     the volume's identity.
//
// With Env.ReadOnly nothing is stored: fresh bricks stay as they are.
func (g *Graph) CheckBricks(adopt []string) error {
	places := g.bricks()
	byName := map[string]int{}
	for i, p := range places {
		byName[p.name] = i
	}
	adopted := map[string]bool{}
	for _, a := range adopt {
		if _, ok := byName[a]; !ok {
			return fmt.Errorf("cannot adopt %q: the volfile has no brick of that name (bricks: %s)", a, brickNames(places))
		}
		adopted[a] = true
	}
	type state struct {
		id        BrickID
		ok, empty bool
	}
	st := make([]state, len(places))
	vols := map[string][]string{}
	for i, p := range places {
		id, ok, empty, err := p.b.BrickID()
		if err != nil {
			return fmt.Errorf("%s: read brick identity: %w", p, err)
		}
		st[i] = state{id, ok, empty}
		if ok {
			vols[id.VolumeID] = append(vols[id.VolumeID], fmt.Sprintf("%s (%s)", p.name, p.b.BrickDir()))
		}
	}
	if len(vols) > 1 {
		var parts []string
		for v, names := range vols {
			parts = append(parts, fmt.Sprintf("volume %s: %s", v, strings.Join(names, ", ")))
		}
		sort.Strings(parts)
		return fmt.Errorf("%w: the bricks belong to different volumes (%s): a directory of another volume is named as a brick; check each volume's directory option",
			ErrBrickMismatch, strings.Join(parts, "; "))
	}
	var volID string
	for v := range vols {
		volID = v
	}
	for i, p := range places {
		s := st[i]
		if !s.ok {
			continue
		}
		if s.id.Brick == p.name && s.id.Position == p.pos {
			continue
		}
		msg := fmt.Sprintf("%s holds %s, but the volfile puts brick %q there", p, s.id, p.name)
		if p.pos != "" {
			msg += " at position " + p.pos
		}
		switch j, ok := byName[s.id.Brick]; {
		case ok && j != i && s.id.Position == places[j].pos:
			msg += fmt.Sprintf(": the directory is brick %q's; the directories of the bricks are swapped or mistyped, fix their directory options", s.id.Brick)
		case s.id.Brick == p.name:
			msg += ": the bricks' order in subvolumes or their number changed; restore the order and count the volume was made with"
		default:
			msg += ": the directory belongs to another brick; fix the directory option, or, if the volume was renamed in the volfile, remove the brick's identity (" + p.b.BrickDir() + "/.xstack/brick.json) and start with -adopt " + p.name
		}
		return fmt.Errorf("%w: %s", ErrBrickMismatch, msg)
	}
	var fresh []int
	for i := range places {
		if !st[i].ok {
			fresh = append(fresh, i)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if volID == "" {
		volID = NewGFID().String() // a new volume: every brick is fresh
	} else {
		for _, i := range fresh {
			p := places[i]
			if adopted[p.name] {
				continue
			}
			what := "is empty"
			if !st[i].empty {
				what = "holds files"
			}
			return fmt.Errorf("%w: %s %s but has no brick identity, while the other bricks belong to volume %s: it is new, or was restored without its .xstack directory; if it is this volume's brick %q, start with -adopt %s (files that had data on a lost brick then read EIO)",
				ErrBrickMismatch, p, what, volID, p.name, p.name)
		}
	}
	if g.env.ReadOnly {
		return nil
	}
	for _, i := range fresh {
		p := places[i]
		id := BrickID{VolumeID: volID, Brick: p.name, Position: p.pos}
		if err := p.b.SetBrickID(id); err != nil {
			return fmt.Errorf("%s: store brick identity: %w", p, err)
		}
		g.log.Info("brick identity stored", zap.String("brick", p.name), zap.String("directory", p.b.BrickDir()),
			zap.String("volume-id", volID), zap.String("position", p.pos))
	}
	return nil
}

func brickNames(places []brickPlace) string {
	names := make([]string, len(places))
	for i, p := range places {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}
