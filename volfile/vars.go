package volfile

import (
	"fmt"
	"os"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "description"}},
}

// variables decodes the variable blocks, applies the given values and sets
// up p.ctx, the evaluation context of every later expression. It returns
// the value of each variable that has one.
//
// A variable left without a value (or with a broken default) is put in the
// context as an unknown string rather than left out: expressions using it
// then evaluate to unknown, which later stages skip silently, instead of
// each reporting "no attribute named ..." after the real error was given.
func (p *parser) variables(blocks []*hcl.Block, given map[string]string) map[string]string {
	values := map[string]string{}
	ctxVars := map[string]cty.Value{}
	first := map[string]*hcl.Block{}
	var declared []string
	for _, b := range blocks {
		name := b.Labels[0]
		content, d := b.Body.Content(variableSchema)
		p.diags = append(p.diags, d...)
		if !hclsyntax.ValidIdentifier(name) {
			p.errorf(b.LabelRanges[0].Ptr(), "Invalid variable name",
				"%q cannot be used as var.%s: a variable name starts with a letter and holds letters, digits, '_' and '-'.", name, name)
			continue
		}
		if f, dup := first[name]; dup {
			p.errorf(b.LabelRanges[0].Ptr(), "Duplicate variable",
				"Variable %q is already declared at %s. Remove one of the two.", name, posString(f.DefRange))
			continue
		}
		first[name] = b
		declared = append(declared, name)
		ctxVars[name] = cty.UnknownVal(cty.String)

		if a := content.Attributes["description"]; a != nil {
			v, d := a.Expr.Value(nil)
			p.diags = append(p.diags, d...)
			if !d.HasErrors() && v.Type() != cty.String {
				p.errorf(a.Expr.Range().Ptr(), "Invalid variable description",
					"The description of variable %q must be a string; this is %s.", name, typeName(v.Type()))
			}
		}
		def, hasDef := "", false
		if a := content.Attributes["default"]; a != nil {
			// No context: a default cannot refer to other variables.
			v, d := a.Expr.Value(nil)
			p.diags = append(p.diags, d...)
			if d.HasErrors() {
				continue
			}
			if !v.IsNull() {
				s, err := convert.Convert(v, cty.String)
				if err != nil {
					p.errorf(a.Expr.Range().Ptr(), "Invalid variable default",
						"The default of variable %q must be a string, a number or a bool; this is %s.", name, typeName(v.Type()))
					continue
				}
				def, hasDef = s.AsString(), true
			}
		}
		if v, ok := given[name]; ok {
			def, hasDef = v, true
		}
		if !hasDef {
			p.errorf(b.DefRange.Ptr(), "Variable without a value",
				"Variable %q has no default and was given no value. Add default = \"...\" to the block, or give a value when loading (the xstack command line takes -var %s=VALUE).", name, name)
			continue
		}
		values[name] = def
		ctxVars[name] = cty.StringVal(def)
	}

	names := make([]string, 0, len(given))
	for n := range given {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if first[n] == nil {
			p.errorf(nil, fmt.Sprintf("Unknown variable %q", n),
				"A value was given for variable %q, but the volfile %s declares no such variable.%s Declared variables: %s.",
				n, p.filename, didYouMean(n, declared), quoteList(declared))
		}
	}

	p.varNames = declared
	p.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(ctxVars)},
		Functions: map[string]function.Function{"env": envFunc},
	}
	return values
}

// envFunc is env(NAME) or env(NAME, FALLBACK): the environment variable,
// the fallback when it is unset, and an error when it is unset without one.
var envFunc = function.New(&function.Spec{
	Description: "Returns the value of an environment variable.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam:    &function.Parameter{Name: "fallback", Type: cty.String},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) > 2 {
			return cty.NilVal, fmt.Errorf("env takes a name and at most one fallback value")
		}
		name := args[0].AsString()
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		if len(args) == 2 {
			return args[1], nil
		}
		return cty.NilVal, fmt.Errorf("environment variable %s is not set; set it, or give a fallback: env(%q, \"value\")", name, name)
	},
})

// eval evaluates expr in the volfile's context. A reference to an
// undeclared variable gets a diagnostic of its own, with a suggestion, in
// place of hcl's terse "Unsupported attribute", and an unknown result.
func (p *parser) eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		if t.RootName() != "var" || len(t) < 2 {
			continue
		}
		attr, ok := t[1].(hcl.TraverseAttr)
		if !ok || contains(p.varNames, attr.Name) {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Undeclared variable %q", attr.Name),
			Detail: fmt.Sprintf("var.%s refers to a variable the volfile does not declare.%s Declare it with variable %q { default = \"...\" }.",
				attr.Name, didYouMean(attr.Name, p.varNames), attr.Name),
			Subject: t.SourceRange().Ptr(),
		})
	}
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return expr.Value(p.ctx)
}

// evalString evaluates expr as a string; what names it in the message.
// It returns false, with no new diagnostic, for an unknown value: that
// only happens after a variable error that was already reported.
func (p *parser) evalString(expr hcl.Expression, what string) (string, bool) {
	v, d := p.eval(expr)
	p.diags = append(p.diags, d...)
	if d.HasErrors() || !v.IsWhollyKnown() {
		return "", false
	}
	if v.IsNull() || !v.Type().IsPrimitiveType() {
		p.errorf(expr.Range().Ptr(), "Wrong type",
			"The value of %s must be a string; this is %s.", what, typeName(v.Type()))
		return "", false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		p.errorf(expr.Range().Ptr(), "Wrong type", "The value of %s must be a string.", what)
		return "", false
	}
	return s.AsString(), true
}

// typeName describes an HCL value type for messages.
func typeName(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a bool"
	case t == cty.DynamicPseudoType:
		return "null"
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "an object"
	}
	return t.FriendlyName()
}
