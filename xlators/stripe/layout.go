package stripe

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// A file's layout is consistent when every child has its name, with one
// type and one gfid (symlinks excepted, see newEntry), and, for a regular
// file, the same readable geometry, striped over as many children as the
// volume has. Stripe never guesses past an inconsistency: the fop fails
// and one log line names the file and what each child holds (report).
// Check finds the same problems with the same rules (judgeEntry,
// judgeGeometry) by walking the children.

// Kind is what is wrong with a file's layout.
type Kind int

// The kinds of Problem, in the order the rules test them.
const (
	// KindChildError: a child could not answer (its error is shown).
	KindChildError Kind = iota + 1
	// KindMissing: the name is missing on some children.
	KindMissing
	// KindType: the children hold different types of file.
	KindType
	// KindGfid: the children hold files of different gfids.
	KindGfid
	// KindGeometryMissing: the geometry xattr is missing on some or all
	// children.
	KindGeometryMissing
	// KindGeometryUnreadable: a child's geometry xattr cannot be parsed.
	KindGeometryUnreadable
	// KindGeometryDiffers: the children hold different geometries.
	KindGeometryDiffers
	// KindGeometryCount: the geometry stripes the file over another number
	// of children than the volume has.
	KindGeometryCount
)

var kindText = [...]string{
	KindChildError:         "cannot be read on some children",
	KindMissing:            "missing on some children",
	KindType:               "types differ between children",
	KindGfid:               "gfids differ between children",
	KindGeometryMissing:    "geometry xattr missing",
	KindGeometryUnreadable: "geometry xattr unreadable",
	KindGeometryDiffers:    "geometry differs between children",
	KindGeometryCount:      "striped over another number of children than the volume has",
}

// String says what is wrong, in a few words.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindText) {
		return kindText[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Problem is one file whose layout is inconsistent across the stripe's
// children.
type Problem struct {
	// Path is the file's path in the volume.
	Path string
	// Kind is what is wrong.
	Kind Kind
	// Children has one entry per child of the stripe, in order: the
	// child's volume name, a colon, and what it holds of the file.
	Children []string
}

// String renders the problem on one line: path, kind, children.
func (p Problem) String() string {
	return p.Path + ": " + p.Kind.String() + " (" + strings.Join(p.Children, "; ") + ")"
}

// report logs a problem the fop of c ran into, once, and counts it. The
// fop then fails: stripe does not guess a layout.
func (s *Stripe) report(c *xlator.Call, p *Problem) {
	s.inconsistent.Add(1)
	s.Logger().Error("file layout inconsistent across children: "+p.Kind.String(), zap.Stringer("fop", c.Fop),
		zap.String("path", p.Path), zap.Strings("children", p.Children))
}

// holds renders what child i holds, for Problem.Children.
func (s *Stripe) holds(i int, what string) string {
	return xlator.Name(s.Children()[i]) + ": " + what
}

// describeEntry renders a child's answer about a name.
func describeEntry(ia *xlator.Iatt, err error) string {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return "missing"
	case err != nil:
		return "error: " + err.Error()
	}
	return typeName(ia.Type()) + " " + ia.Gfid.String()
}

func typeName(t uint32) string {
	switch t {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "directory"
	case syscall.S_IFLNK:
		return "symlink"
	case syscall.S_IFIFO:
		return "fifo"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "char device"
	case syscall.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("type %#o", t)
}

// judgeEntry examines every child's answer about one name (a lookup or a
// stat: ias[i], errs[i]) and returns the problem, or nil when they agree.
// When every child failed with the same error there is no problem: that
// error is the answer (ENOENT: the name is nowhere). path is called only
// to name a problem (nil: the problem has no path, for a caller that only
// asks whether there is one).
func (s *Stripe) judgeEntry(path func() string, ias []xlator.Iatt, errs []error) *Problem {
	kind := Kind(0)
	failed, missing := 0, 0
	for _, e := range errs {
		if e != nil {
			failed++
			if errors.Is(e, syscall.ENOENT) {
				missing++
			}
		}
	}
	switch {
	case failed == len(errs):
		for _, e := range errs[1:] {
			if !errors.Is(e, errs[0]) && !errors.Is(errs[0], e) {
				kind = KindChildError
			}
		}
	case failed > missing:
		kind = KindChildError
	case failed > 0:
		kind = KindMissing
	default:
		ia0 := &ias[0]
		for i := 1; i < len(ias) && kind == 0; i++ {
			switch {
			case ias[i].Type() != ia0.Type():
				kind = KindType
			case ias[i].Gfid != ia0.Gfid && !ia0.IsSymlink(): // see newEntry
				kind = KindGfid
			}
		}
	}
	if kind == 0 {
		return nil
	}
	p := &Problem{Path: pathOf(path), Kind: kind, Children: make([]string, len(errs))}
	for i := range errs {
		p.Children[i] = s.holds(i, describeEntry(&ias[i], errs[i]))
	}
	return p
}

func pathOf(path func() string) string {
	if path == nil {
		return ""
	}
	return path()
}

// geoAnswer is what one child answered for a file's geometry xattr: the
// value and the key it was found under, or the getxattr's error.
type geoAnswer struct {
	key string
	val []byte
	err error
}

// judgeGeometry examines every child's geometry xattr of one regular file
// and returns the geometry when they all hold the same readable one for
// this volume's number of children, else the problem. When the file is
// gone from every child (removed meanwhile) it returns ENOENT and no
// problem. path is as for judgeEntry.
func (s *Stripe) judgeGeometry(path func() string, ans []geoAnswer) (Geometry, *Problem, error) {
	kind := Kind(0)
	gone := 0
	for _, a := range ans {
		switch {
		case a.err == nil, errors.Is(a.err, syscall.ENODATA):
		case errors.Is(a.err, syscall.ENOENT):
			gone++
			kind = max(kind, KindMissing)
		default:
			kind = KindChildError
		}
	}
	if gone == len(ans) {
		return Geometry{}, nil, syscall.ENOENT
	}
	geos := make([]Geometry, len(ans))
	perr := make([]error, len(ans))
	if kind == 0 {
		for _, a := range ans {
			if a.err != nil {
				kind = KindGeometryMissing
			}
		}
	}
	if kind == 0 {
		for i, a := range ans {
			if geos[i], perr[i] = ParseGeometry(a.val); perr[i] != nil {
				kind = KindGeometryUnreadable
			}
		}
	}
	if kind == 0 {
		for i := 1; i < len(geos); i++ {
			if geos[i] != geos[0] {
				kind = KindGeometryDiffers
			}
		}
	}
	if kind == 0 && geos[0].Count != len(s.Children()) {
		kind = KindGeometryCount
	}
	if kind == 0 {
		return geos[0], nil, nil
	}
	p := &Problem{Path: pathOf(path), Kind: kind, Children: make([]string, len(ans))}
	for i, a := range ans {
		var what string
		switch {
		case errors.Is(a.err, syscall.ENODATA):
			what = "no " + XattrKey + " or " + XattrKeyUser
		case a.err != nil:
			what = describeEntry(nil, a.err)
		case perr[i] != nil:
			what = a.key + " unreadable: " + perr[i].Error()
		default:
			what = fmt.Sprintf("%s=%q", a.key, a.val)
		}
		p.Children[i] = s.holds(i, what)
	}
	return Geometry{}, p, nil
}
