package volfile

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"go.uber.org/zap/zapcore"

	"github.com/xstack/xstack/xlator"
)

// The attributes every volume block may have whatever its type. Phase 1
// reads them; they are never looked up in a type's schema.
const (
	attrType       = "type"
	attrSubvolumes = "subvolumes"
	attrLogLevel   = "log-level"
)

var reserved = []string{attrType, attrSubvolumes, attrLogLevel}

var volumeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: attrType}, {Name: attrSubvolumes}, {Name: attrLogLevel}},
}

// logLevels are the values of log-level, in the order messages list them.
var logLevels = []string{"debug", "info", "warn", "error"}

var levelOf = map[string]zapcore.Level{
	"debug": zapcore.DebugLevel,
	"info":  zapcore.InfoLevel,
	"warn":  zapcore.WarnLevel,
	"error": zapcore.ErrorLevel,
}

// volume is one volume block as decoded, with the source ranges the graph
// checks need for their messages.
type volume struct {
	spec  xlator.VolumeSpec
	block *hcl.Block
	subs  []ref // the subvolumes as written, known or not
	// subsRange covers the subvolumes value, or the block header when the
	// block has none.
	subsRange hcl.Range
	// subsBroken is set when the subvolumes value itself failed to decode,
	// so some children may be missing from subs.
	subsBroken bool
}

// ref is a volume name written somewhere, with where it was written.
type ref struct {
	name string
	rng  hcl.Range
}

// owner names what an option belongs to, for messages.
type owner struct {
	what     string // `volume "brick0"`, `the mount block`
	schemaOf string // `type "posix"`, `the mount block`
	block    *hcl.Block
}

// volume decodes one volume block in two phases; see the package doc.
func (p *parser) volume(b *hcl.Block) *volume {
	name := b.Labels[0]
	v := &volume{
		block:     b,
		subsRange: b.DefRange,
		spec: xlator.VolumeSpec{
			Name:     name,
			Options:  xlator.NewOptions(),
			LogLevel: zapcore.InfoLevel,
			Pos:      posString(b.DefRange),
		},
	}
	if !validName(name) {
		p.errorf(b.LabelRanges[0].Ptr(), "Invalid volume name",
			"%q cannot name a volume: use letters, digits, '_', '-' and '.', starting with a letter, digit or '_'. The name appears in subvolumes lists, logs and statedumps.", name)
	}

	// Phase 1: the reserved attributes.
	content, remain, d := b.Body.PartialContent(volumeSchema)
	p.diags = append(p.diags, d...)
	var typ *xlator.Type
	if a := content.Attributes[attrType]; a == nil {
		p.errorf(b.DefRange.Ptr(), "Missing volume type",
			"Volume %q has no type. Add type = \"...\" naming one of the xlator types: %s.", name, quoteList(p.reg.Names()))
	} else if s, ok := p.evalString(a.Expr, "type"); ok {
		v.spec.Type = s
		if t, found := p.reg.Lookup(s); found {
			typ = t
		} else {
			p.errorf(a.Expr.Range().Ptr(), fmt.Sprintf("Unknown volume type %q", s),
				"No xlator type is registered as %q.%s The known types are %s.", s, didYouMean(s, p.reg.Names()), quoteList(p.reg.Names()))
		}
	}
	if a := content.Attributes[attrSubvolumes]; a != nil {
		var ok bool
		v.subs, ok = p.subvolumes(a)
		v.subsBroken = !ok
		v.subsRange = a.Expr.Range()
	}
	if a := content.Attributes[attrLogLevel]; a != nil {
		if s, ok := p.evalString(a.Expr, `"log-level"`); ok {
			if l, found := levelOf[strings.ToLower(s)]; found {
				v.spec.LogLevel = l
				v.spec.LogLevelSet = true
			} else {
				p.errorf(a.Expr.Range().Ptr(), "Invalid log level",
					"%q is not a log level.%s Use one of %s.", s, didYouMean(strings.ToLower(s), logLevels), quoteList(logLevels))
			}
		}
	}
	attrs := p.attributes(remain, reserved, fmt.Sprintf("volume %q", name))
	if typ == nil {
		// Without a type there is no schema; checking the options would
		// only call every one of them unknown.
		return v
	}
	p.children(v, typ)

	// Phase 2: the options, against the type's schema.
	o := owner{what: fmt.Sprintf("volume %q", name), schemaOf: fmt.Sprintf("type %q", typ.Name), block: b}
	if typ.SchemaFor == nil {
		p.options(o, typ.Options, typ.Options, attrs, true, &v.spec.Options)
		return v
	}
	boot := xlator.NewOptions()
	if !p.options(o, typ.Options, typ.Options, attrs, false, &boot) {
		return v // SchemaFor would only fail on the same problem
	}
	var rest []*hcl.Attribute
	for _, a := range attrs {
		if _, own := typ.Options.Lookup(a.Name); !own {
			rest = append(rest, a)
		}
	}
	extra, err := schemaFor(typ, boot)
	unknown := errors.Is(err, xlator.ErrSchemaUnknown)
	if err != nil && !unknown {
		p.errorf(b.DefRange.Ptr(), fmt.Sprintf("Cannot get the options of volume %q", name),
			"Type %q gives the schema of its other options at load time, and that failed: %v.", typ.Name, err)
		return v
	}
	// Kept either way, for the type to check at start against the schema
	// it then knows; they are reported here only when nothing else
	// evaluates them.
	for _, a := range rest {
		if l, st := p.literal(a.Expr, unknown); st == valueSet {
			v.spec.Literals = append(v.spec.Literals, xlator.LiteralOption{Name: a.Name, Value: l, Pos: posString(a.NameRange)})
		}
	}
	if unknown {
		given := "none given here"
		if len(rest) > 0 {
			names := make([]string, len(rest))
			for i, a := range rest {
				names[i] = a.Name
			}
			given = quoteList(names)
		}
		p.warnf(b.DefRange.Ptr(), fmt.Sprintf("Options of volume %q not checked", name),
			"Type %q cannot give the schema of volume %q's other options before it starts: %v. Those options (%s) are checked when the volume starts.",
			typ.Name, name, strings.TrimPrefix(err.Error(), xlator.ErrSchemaUnknown.Error()+": "), given)
		v.spec.Options = boot
		return v
	}
	full := append(append(xlator.Schema{}, typ.Options...), extra...)
	p.options(o, extra, full, rest, true, &v.spec.Options)
	for _, n := range boot.Names() {
		val, _ := boot.Get(n)
		v.spec.Options.Set(n, val, boot.IsSet(n))
	}
	return v
}

// schemaFor calls typ.SchemaFor and keeps only the options the type does
// not declare itself; a panic in it (plugin code) becomes an error.
func schemaFor(typ *xlator.Type, boot xlator.Options) (extra xlator.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	s, err := typ.SchemaFor(boot)
	if err != nil {
		return nil, err
	}
	for _, o := range s {
		if _, own := typ.Options.Lookup(o.Name); !own {
			extra = append(extra, o)
		}
	}
	return extra, nil
}

// subvolumes decodes the subvolumes list, keeping each element's range for
// messages about that element. ok is false when some element could not be
// read (diagnosed, or unknown after a variable error).
func (p *parser) subvolumes(a *hcl.Attribute) (refs []ref, ok bool) {
	const what = "Subvolumes must be a list of volume names, such as [\"brick0\", \"brick1\"]"
	if exprs, d := hcl.ExprList(a.Expr); !d.HasErrors() {
		ok = true
		for _, e := range exprs {
			if s, good := p.evalString(e, "a subvolume"); good {
				refs = append(refs, ref{name: s, rng: e.Range()})
			} else {
				ok = false
			}
		}
		return refs, ok
	}
	// Not a literal list: evaluate it whole, say from a variable.
	val, d := p.eval(a.Expr)
	p.diags = append(p.diags, d...)
	if d.HasErrors() || !val.IsWhollyKnown() {
		return nil, false
	}
	ty := val.Type()
	if val.IsNull() || !(ty.IsListType() || ty.IsTupleType()) {
		p.errorf(a.Expr.Range().Ptr(), "Wrong type for subvolumes", "%s; this is %s.", what, typeName(ty))
		return nil, false
	}
	for it := val.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			p.errorf(a.Expr.Range().Ptr(), "Wrong type for subvolumes", "%s; an element is %s.", what, typeName(e.Type()))
			return nil, false
		}
		refs = append(refs, ref{name: e.AsString(), rng: a.Expr.Range()})
	}
	return refs, true
}

// children checks the number of subvolumes against the type's bounds.
func (p *parser) children(v *volume, typ *xlator.Type) {
	n, lo, hi := len(v.subs), typ.MinChildren, typ.MaxChildren
	if v.subsBroken || n >= lo && (hi < 0 || n <= hi) {
		return
	}
	var want string
	switch {
	case hi == 0:
		want = "no subvolumes"
	case lo == hi:
		want = fmt.Sprintf("exactly %s", plural(lo, "subvolume"))
	case hi < 0:
		want = fmt.Sprintf("at least %s", plural(lo, "subvolume"))
	case lo == 0:
		want = fmt.Sprintf("at most %s", plural(hi, "subvolume"))
	default:
		want = fmt.Sprintf("%d to %d subvolumes", lo, hi)
	}
	p.errorf(v.subsRange.Ptr(), "Wrong number of subvolumes",
		"Volume %q has %s, but type %q takes %s.", v.spec.Name, plural(n, "subvolume"), typ.Name, want)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// attributes returns the attributes of body other than the reserved ones,
// in source order, and reports every nested block: volfile blocks below
// the top level hold only attributes.
func (p *parser) attributes(body hcl.Body, skip []string, what string) []*hcl.Attribute {
	var attrs []*hcl.Attribute
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		// Every body Parse sees comes from hclsyntax; this keeps the code
		// correct should another syntax be added.
		m, d := body.JustAttributes()
		p.diags = append(p.diags, d...)
		for _, a := range m {
			attrs = append(attrs, a)
		}
	} else {
		for _, blk := range sb.Blocks {
			hint := ""
			if len(blk.Labels) == 0 {
				hint = fmt.Sprintf(" If %q is an option that takes an object, write it with an equals sign: %s = { ... }.", blk.Type, blk.Type)
			}
			p.errorf(blk.TypeRange.Ptr(), fmt.Sprintf("Unexpected block %q", blk.Type),
				"Blocks are not allowed inside %s; it takes only attributes (name = value).%s", what, hint)
		}
		for _, a := range sb.Attributes {
			attrs = append(attrs, a.AsHCLAttribute())
		}
	}
	out := attrs[:0]
	for _, a := range attrs {
		if !contains(skip, a.Name) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validName reports whether name can name a volume: it becomes part of
// pool names ("<volume>:<what>"), log fields and dot output, so it stays
// within a conservative character set.
func validName(name string) bool {
	if name == "" || name[0] == '-' || name[0] == '.' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
