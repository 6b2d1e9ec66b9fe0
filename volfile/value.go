package volfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/xstack/xstack/xlator"
)

// options decodes attrs against schema into opts and fills in the options
// not given: their default, or the zero value of their kind when they have
// none, so that every option of the schema has a value. all is the whole
// schema of the owner, for "did you mean" on an unknown attribute. When
// strict is false, attributes schema does not declare are left alone (the
// bootstrap pass of a SchemaFor type). It reports whether everything
// decoded.
func (p *parser) options(o owner, schema, all xlator.Schema, attrs []*hcl.Attribute, strict bool, opts *xlator.Options) bool {
	ok := true
	broken := map[string]bool{} // given, but diagnosed or unknown
	// misspelt holds the options that an unknown attribute was probably
	// meant to be: "did you mean" says it, "missing" need not repeat it.
	misspelt := map[string]bool{}
	for _, a := range attrs {
		opt, found := schema.Lookup(a.Name)
		if !found {
			if strict {
				ok = false
				cands := append(all.Names(), reserved...)
				if o.block.Type != "volume" {
					cands = all.Names()
				}
				misspelt[suggest(a.Name, cands)] = true
				p.errorf(a.NameRange.Ptr(), fmt.Sprintf("Unknown option %q", a.Name),
					"%s has no option %q.%s It accepts %s.",
					capitalize(o.schemaOf), a.Name, didYouMean(a.Name, cands), quoteList(all.Names()))
			}
			continue
		}
		val, st := p.value(o, opt, a.Expr)
		switch st {
		case valueSet:
			opts.Set(opt.Name, val, true)
		case valueNull:
			// As if not given: the default applies.
		default:
			ok = false
			broken[a.Name] = true
		}
	}
	for _, opt := range schema {
		if opts.Has(opt.Name) || broken[opt.Name] || (opt.Required && misspelt[opt.Name]) {
			continue
		}
		if opt.Required {
			ok = false
			doc := ""
			if opt.Doc != "" {
				doc = " (" + opt.Doc + ")"
			}
			p.errorf(o.block.DefRange.Ptr(), fmt.Sprintf("Missing required option %q", opt.Name),
				"%s needs option %q%s, %s. Add %s = ... to the block.",
				capitalize(o.what), opt.Name, doc, opt.Takes(), opt.Name)
			continue
		}
		val := xlator.Value{Kind: opt.Kind}
		if opt.Kind == xlator.KindSizeMap || opt.Kind == xlator.KindIntMap {
			val.Map = map[string]int64{}
		}
		if opt.Default != "" {
			var err error
			if val, err = opt.ParseScalar(opt.Default); err != nil {
				// A bug in the type's registration, not in the volfile,
				// but reported here so it cannot go unnoticed.
				ok = false
				p.errorf(o.block.DefRange.Ptr(), fmt.Sprintf("Invalid default for option %q", opt.Name),
					"The default %q that %s declares for %q is invalid: %v. This is a bug in the xlator type; set the option explicitly to work around it.",
					opt.Default, o.schemaOf, opt.Name, err)
				continue
			}
		}
		opts.Set(opt.Name, val, false)
	}
	return ok
}

// valueState is the outcome of decoding one option value.
type valueState int

const (
	valueSet     valueState = iota // decoded
	valueNull                      // null: counts as not given
	valueFailed                    // diagnosed
	valueUnknown                   // depends on a variable that failed: skip silently
)

// value converts expr to a value of opt's kind.
func (p *parser) value(o owner, opt xlator.Option, expr hcl.Expression) (xlator.Value, valueState) {
	if opt.Kind == xlator.KindSizeMap || opt.Kind == xlator.KindIntMap {
		return p.mapValue(o, opt, expr)
	}
	v, d := p.eval(expr)
	p.diags = append(p.diags, d...)
	switch {
	case d.HasErrors():
		return xlator.Value{}, valueFailed
	case !v.IsWhollyKnown():
		return xlator.Value{}, valueUnknown
	case v.IsNull():
		return xlator.Value{}, valueNull
	}
	return p.scalar(o, opt, fmt.Sprintf("option %q", opt.Name), v, expr.Range())
}

// scalar converts the HCL value v of a scalar option; label names it in
// messages (the option, or an entry of a map option).
func (p *parser) scalar(o owner, opt xlator.Option, label string, v cty.Value, rng hcl.Range) (xlator.Value, valueState) {
	val, err := opt.Convert(literalOf(v))
	switch {
	case err == nil:
		if opt.Kind == xlator.KindPath && opt.FromVolfile && val.Str != "" && !filepath.IsAbs(val.Str) && !strings.HasPrefix(p.filename, "<") {
			val.Str = filepath.Join(filepath.Dir(p.filename), val.Str)
		}
		return val, valueSet
	case errors.Is(err, xlator.ErrWrongType):
		p.errorf(rng.Ptr(), fmt.Sprintf("Wrong type for option %q", opt.Name),
			"%s of %s %v.", capitalize(label), o.what, err)
	case errors.Is(err, xlator.ErrOutOfRange):
		p.errorf(rng.Ptr(), fmt.Sprintf("Option %q out of range", opt.Name),
			"%s of %s: %v.", capitalize(label), o.what, err)
	default:
		p.errorf(rng.Ptr(), fmt.Sprintf("Invalid value for option %q", opt.Name),
			"%s of %s: %v.", capitalize(label), o.what, err)
	}
	return xlator.Value{}, valueFailed
}

// literal evaluates expr into a Literal, keeping a literal object's
// entries in the order written, as mapValue does. It reports evaluation
// errors only when report is set: when the value is also decoded against
// a schema, that reports them.
func (p *parser) literal(expr hcl.Expression, report bool) (xlator.Literal, valueState) {
	eval := func(e hcl.Expression) (cty.Value, valueState) {
		v, d := p.eval(e)
		if report {
			p.diags = append(p.diags, d...)
		}
		switch {
		case d.HasErrors():
			return v, valueFailed
		case !v.IsWhollyKnown():
			return v, valueUnknown
		case v.IsNull():
			return v, valueNull
		}
		return v, valueSet
	}
	pairs, d := hcl.ExprMap(expr)
	if d.HasErrors() {
		v, st := eval(expr)
		if st != valueSet {
			return xlator.Literal{}, st
		}
		return literalOf(v), valueSet
	}
	l := xlator.Literal{Type: xlator.LitObject}
	state := valueSet
	for _, kv := range pairs {
		k, kst := eval(kv.Key)
		e, est := eval(kv.Value)
		if kst == valueNull {
			kst = valueFailed
		}
		if est == valueNull {
			est = valueSet // kept as a null entry: Convert says what it lacks
		}
		if st := max(kst, est); st != valueSet {
			state = max(state, st)
			continue
		}
		key, err := convert.Convert(k, cty.String)
		if err != nil {
			return xlator.Literal{Type: xlator.LitOther, Text: "an object whose keys are not all strings"}, valueSet
		}
		l.Keys = append(l.Keys, key.AsString())
		l.Elems = append(l.Elems, literalOf(e))
	}
	if state != valueSet {
		return xlator.Literal{}, state
	}
	return l, valueSet
}

// literalOf returns the known, non-null value v as an xlator.Literal; an
// object's entries come in key order (see literal for the order written).
func literalOf(v cty.Value) xlator.Literal {
	switch ty := v.Type(); {
	case v.IsNull():
		return xlator.Literal{Type: xlator.LitOther, Text: "null"}
	case ty == cty.String:
		return xlator.Literal{Type: xlator.LitString, Text: v.AsString()}
	case ty == cty.Number:
		return xlator.Literal{Type: xlator.LitNumber, Text: v.AsBigFloat().Text('f', -1)}
	case ty == cty.Bool:
		return xlator.Literal{Type: xlator.LitBool, Text: strconv.FormatBool(v.True())}
	case ty.IsObjectType() || ty.IsMapType():
		l := xlator.Literal{Type: xlator.LitObject}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			l.Keys = append(l.Keys, k.AsString())
			l.Elems = append(l.Elems, literalOf(e))
		}
		return l
	}
	return xlator.Literal{Type: xlator.LitOther, Text: typeName(v.Type())}
}

// mapValue decodes a size map or int map option. A literal object keeps
// the order its entries are written in, which is the order patterns are
// tried; any other object (from a variable, say) comes in key order.
func (p *parser) mapValue(o owner, opt xlator.Option, expr hcl.Expression) (xlator.Value, valueState) {
	elem := opt
	elem.Kind = xlator.KindSize
	if opt.Kind == xlator.KindIntMap {
		elem.Kind = xlator.KindInt
	}
	val := xlator.Value{Kind: opt.Kind, Map: map[string]int64{}}
	state := valueSet
	where := map[string]hcl.Range{}
	add := func(key string, keyRng hcl.Range, v cty.Value, rng hcl.Range) {
		if first, dup := where[key]; dup {
			p.errorf(keyRng.Ptr(), fmt.Sprintf("Duplicate pattern in option %q", opt.Name),
				"Pattern %q of option %q of %s is already given at %s; each pattern may appear once.", key, opt.Name, o.what, posString(first))
			state = valueFailed
			return
		}
		where[key] = keyRng
		if !v.IsWhollyKnown() {
			state = max(state, valueUnknown)
			return
		}
		if v.IsNull() {
			p.errorf(rng.Ptr(), fmt.Sprintf("Wrong type for option %q", opt.Name),
				"Pattern %q of option %q of %s has no value; it takes %s.", key, opt.Name, o.what, elem.Takes())
			state = valueFailed
			return
		}
		n, st := p.scalar(o, elem, fmt.Sprintf("pattern %q of option %q", key, opt.Name), v, rng)
		if st != valueSet {
			state = valueFailed
			return
		}
		val.Map[key] = n.Int
		val.Order = append(val.Order, key)
	}

	if pairs, d := hcl.ExprMap(expr); !d.HasErrors() {
		for _, kv := range pairs {
			k, d := p.eval(kv.Key)
			p.diags = append(p.diags, d...)
			if d.HasErrors() {
				state = valueFailed
				continue
			}
			if !k.IsWhollyKnown() {
				state = max(state, valueUnknown)
				continue
			}
			if k.IsNull() || k.Type() != cty.String {
				p.errorf(kv.Key.Range().Ptr(), fmt.Sprintf("Invalid pattern in option %q", opt.Name),
					"The keys of option %q of %s are glob patterns written as strings, such as \"*.iso\".", opt.Name, o.what)
				state = valueFailed
				continue
			}
			v, d := p.eval(kv.Value)
			p.diags = append(p.diags, d...)
			if d.HasErrors() {
				state = valueFailed
				continue
			}
			add(k.AsString(), kv.Key.Range(), v, kv.Value.Range())
		}
		if state != valueSet {
			return xlator.Value{}, state
		}
		return val, valueSet
	}

	v, d := p.eval(expr)
	p.diags = append(p.diags, d...)
	switch {
	case d.HasErrors():
		return xlator.Value{}, valueFailed
	case !v.IsWhollyKnown():
		return xlator.Value{}, valueUnknown
	case v.IsNull():
		return xlator.Value{}, valueNull
	case !v.Type().IsObjectType() && !v.Type().IsMapType():
		p.errorf(expr.Range().Ptr(), fmt.Sprintf("Wrong type for option %q", opt.Name),
			"Option %q of %s takes %s; this is %s.", opt.Name, o.what, opt.Takes(), typeName(v.Type()))
		return xlator.Value{}, valueFailed
	}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		add(k.AsString(), expr.Range(), e, expr.Range())
	}
	if state != valueSet {
		return xlator.Value{}, state
	}
	return val, valueSet
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
