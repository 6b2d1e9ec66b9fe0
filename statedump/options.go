package statedump

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Part names a group of sections that can be dumped alone, as
// `gluster volume statedump VOL mem iobuf` selects them.
type Part string

// The parts, in the order a dump lists them.
const (
	PartMem      Part = "mem"      // Go memory and every mem-pool
	PartIobuf    Part = "iobuf"    // the iobuf pool and its arenas
	PartSlab     Part = "slab"     // slab caches
	PartBio      Part = "bio"      // registered sections named bio*
	PartCallpool Part = "callpool" // calls in flight
	PartPriv     Part = "priv"     // each translator's Dump, and registered sections of no other part (fuse)
	PartFD       Part = "fd"       // fd counts
	PartInode    Part = "inode"    // the inode table and active inodes
	PartFops     Part = "fops"     // per-translator fop statistics
)

// AllParts lists every part in dump order.
var AllParts = []Part{PartMem, PartIobuf, PartSlab, PartBio, PartCallpool, PartPriv, PartFD, PartInode, PartFops}

// ErrUnknownPart is returned (wrapped, naming the part and the valid ones)
// for a part name that is not one of AllParts.
var ErrUnknownPart = errors.New("statedump: unknown part")

// ErrUnknownFormat is returned for a Format other than text or json.
var ErrUnknownFormat = errors.New("statedump: unknown format")

// ParsePart returns the part called s.
func ParsePart(s string) (Part, error) {
	for _, p := range AllParts {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w %q: valid parts are %s", ErrUnknownPart, s, partList())
}

// ParseParts parses a comma-separated list of parts ("mem,iobuf"); spaces
// and empty items are ignored, and "" or "all" means every part (nil).
func ParseParts(s string) ([]Part, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return nil, nil
	}
	var out []Part
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := ParsePart(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func partList() string {
	s := make([]string, len(AllParts))
	for i, p := range AllParts {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// Format is a rendering of a dump.
type Format string

// The formats.
const (
	FormatText Format = "text" // GlusterFS-style sections of key=value lines
	FormatJSON Format = "json" // the Dump type encoded as JSON
)

// Options select what a dump holds and how it is rendered. The zero value
// dumps every part as text.
type Options struct {
	// Parts selects the parts; nil or empty means all of them.
	Parts []Part
	// Format is FormatText ("" too) or FormatJSON.
	Format Format
	// MaxInodes bounds the active inodes listed (0 means 32, negative
	// none).
	MaxInodes int
	// Budget is how long the collection of one section may take before it
	// is given up and reported as "unable to dump: busy" (0 means 250ms).
	// Collection never waits for a lock longer than this.
	Budget time.Duration
}

// check validates the options and fills in defaults.
func (o Options) check() (Options, error) {
	if len(o.Parts) == 0 {
		o.Parts = AllParts
	}
	for _, p := range o.Parts {
		if _, err := ParsePart(string(p)); err != nil {
			return o, err
		}
	}
	switch o.Format {
	case "":
		o.Format = FormatText
	case FormatText, FormatJSON:
	default:
		return o, fmt.Errorf("%w %q: use text or json", ErrUnknownFormat, o.Format)
	}
	if o.MaxInodes == 0 {
		o.MaxInodes = 32
	}
	if o.Budget <= 0 {
		o.Budget = 250 * time.Millisecond
	}
	return o, nil
}

func (o Options) has(p Part) bool {
	for _, q := range o.Parts {
		if q == p {
			return true
		}
	}
	return false
}
