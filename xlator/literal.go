package xlator

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Literal is an option value as a volfile wrote it, its variables and
// functions evaluated, before a schema gave it a kind. The volfile loader
// decodes every option value through Convert, and keeps the literals of
// options whose schema it could not know (VolumeSpec.Literals), so that
// the type decodes them once it knows, exactly as the loader would have.
type Literal struct {
	Type LiteralType
	// Text is a LitString's string, a LitNumber in exact decimal ("4096",
	// "0.25"), "true" or "false" for a LitBool, and for LitOther what the
	// value is, for messages ("a list").
	Text string
	// Keys and Elems are a LitObject's entries in the order written.
	Keys  []string
	Elems []Literal
}

// LiteralType is what kind of HCL value a Literal is.
type LiteralType int

// The literal types. LitOther is every value no option takes: a list, a
// null inside an object.
const (
	LitString LiteralType = iota
	LitNumber
	LitBool
	LitObject
	LitOther
)

// LiteralOption is one option as written in a volume block.
type LiteralOption struct {
	Name  string
	Value Literal
	// Pos is "file:line:col" of the attribute, for messages.
	Pos string
}

// String describes l for messages: "a string", "a number", "a list".
func (l Literal) String() string {
	switch l.Type {
	case LitString:
		return "a string"
	case LitNumber:
		return "a number"
	case LitBool:
		return "a bool"
	case LitObject:
		return "an object"
	}
	return l.Text
}

// The classes of Convert's errors; an error that is neither is a value of
// the right type that does not parse ("12 parsecs" for a size).
var (
	// ErrWrongType: the option's kind takes no value of the literal's type
	// (a list for a size). The message says what it takes.
	ErrWrongType = errors.New("wrong type")
	// ErrOutOfRange: the value is outside the option's [Min, Max].
	ErrOutOfRange = errors.New("out of range")
)

// convertError is an error of class class whose message is msg alone, so
// callers can put it in their own sentence.
type convertError struct {
	class error
	msg   string
}

func (e *convertError) Error() string { return e.msg }
func (e *convertError) Unwrap() error { return e.class }

// Convert decodes l as a value of opt's kind and checks its range. What
// each kind takes is documented with Kind; a number for a Duration is
// seconds, and must come to a whole number of nanoseconds. Errors name
// the problem, not the option; errors.Is tells ErrWrongType and
// ErrOutOfRange from a value that does not parse.
func (opt Option) Convert(l Literal) (Value, error) {
	wrongType := func() (Value, error) {
		return Value{}, &convertError{ErrWrongType, fmt.Sprintf("takes %s; this is %s", opt.Takes(), l)}
	}
	if opt.Kind == KindSizeMap || opt.Kind == KindIntMap {
		if l.Type != LitObject || len(l.Keys) != len(l.Elems) {
			return wrongType()
		}
		elem := opt
		elem.Kind = KindSize
		if opt.Kind == KindIntMap {
			elem.Kind = KindInt
		}
		val := Value{Kind: opt.Kind, Map: map[string]int64{}}
		for i, k := range l.Keys {
			if _, dup := val.Map[k]; dup {
				return Value{}, fmt.Errorf("pattern %q is given twice", k)
			}
			n, err := elem.Convert(l.Elems[i])
			if err != nil {
				var ce *convertError
				switch {
				case errors.As(err, &ce) && ce.class == ErrWrongType:
					return Value{}, &convertError{ce.class, fmt.Sprintf("pattern %q %s", k, ce.msg)}
				case ce != nil:
					return Value{}, &convertError{ce.class, fmt.Sprintf("pattern %q: %s", k, ce.msg)}
				}
				return Value{}, fmt.Errorf("pattern %q: %w", k, err)
			}
			val.Map[k] = n.Int
			val.Order = append(val.Order, k)
		}
		return val, nil
	}
	// Parse without the range first, so that a value out of range is told
	// apart from one that does not parse.
	unbounded := opt
	unbounded.Min, unbounded.Max = 0, 0
	var val Value
	var err error
	switch l.Type {
	case LitString:
		val, err = unbounded.ParseScalar(l.Text)
	case LitNumber:
		switch opt.Kind {
		case KindInt, KindSize:
			val.Int, err = whole(l.Text, 1, opt.Kind)
		case KindDuration:
			val.Int, err = whole(l.Text, int64(time.Second), opt.Kind)
		case KindString, KindEnum:
			val, err = unbounded.ParseScalar(l.Text)
		default:
			return wrongType()
		}
		val.Kind = opt.Kind
	case LitBool:
		switch opt.Kind {
		case KindBool:
			val = Value{Kind: opt.Kind, Bool: l.Text == "true"}
		case KindString, KindEnum:
			val, err = unbounded.ParseScalar(l.Text)
		default:
			return wrongType()
		}
	default:
		return wrongType()
	}
	if err != nil {
		return Value{}, err
	}
	if err := opt.CheckRange(val); err != nil {
		return Value{}, &convertError{ErrOutOfRange, err.Error()}
	}
	return val, nil
}

// whole returns the decimal number text times unit as an int64 when that
// is a whole number that fits. It computes in exact decimal: HCL numbers
// are binary floats, in which 0.1 seconds is not a whole number of
// nanoseconds.
func whole(text string, unit int64, kind Kind) (int64, error) {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return 0, fmt.Errorf("%s is not a finite number", text)
	}
	r.Mul(r, new(big.Rat).SetInt64(unit))
	if kind == KindSize && r.Sign() < 0 {
		return 0, fmt.Errorf("a size cannot be negative")
	}
	if !r.IsInt() {
		if kind == KindDuration {
			return 0, fmt.Errorf("%s seconds is not a whole number of nanoseconds", text)
		}
		return 0, fmt.Errorf("%s is not a whole number", text)
	}
	if !r.Num().IsInt64() {
		f, _, _ := big.ParseFloat(text, 10, 512, big.ToNearestEven)
		return 0, fmt.Errorf("%s is too large", f.Text('g', 6))
	}
	return r.Num().Int64(), nil
}

// Takes describes the values an option of opt's kind takes, for messages:
// "a size: a number of bytes, or a string with a unit such as ...".
func (opt Option) Takes() string {
	switch opt.Kind {
	case KindString:
		return "a string"
	case KindBool:
		return "true or false"
	case KindInt:
		return "a whole number, such as 4"
	case KindSize:
		return `a size: a number of bytes, or a string with a unit such as "128KiB" or "1MiB"`
	case KindDuration:
		return `a duration such as "500ms", "1s" or "2m"`
	case KindEnum:
		q := make([]string, len(opt.Enum))
		for i, e := range opt.Enum {
			q[i] = strconv.Quote(e)
		}
		switch len(q) {
		case 0:
			return "one of (none)"
		case 1:
			return "one of " + q[0]
		}
		return "one of " + strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
	case KindPath:
		return "a path string"
	case KindSizeMap:
		return `an object of glob = size, such as { "*.iso" = "1MiB" }`
	case KindIntMap:
		return `an object of glob = number, such as { "*.log" = 1 }`
	}
	return "a " + opt.Kind.String()
}
