package xlator

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestConvert: every kind from every literal type it takes, and the three
// classes of failure with their messages.
func TestConvert(t *testing.T) {
	str := func(s string) Literal { return Literal{Type: LitString, Text: s} }
	num := func(s string) Literal { return Literal{Type: LitNumber, Text: s} }
	boolean := func(b bool) Literal {
		if b {
			return Literal{Type: LitBool, Text: "true"}
		}
		return Literal{Type: LitBool, Text: "false"}
	}
	list := Literal{Type: LitOther, Text: "a list"}
	obj := func(kv ...any) Literal {
		l := Literal{Type: LitObject}
		for i := 0; i < len(kv); i += 2 {
			l.Keys = append(l.Keys, kv[i].(string))
			l.Elems = append(l.Elems, kv[i+1].(Literal))
		}
		return l
	}
	size := Option{Name: "s", Kind: KindSize, Min: 512, Max: 1 << 20}
	dur := Option{Name: "d", Kind: KindDuration}
	for _, tc := range []struct {
		name  string
		opt   Option
		lit   Literal
		want  Value
		class error  // ErrWrongType, ErrOutOfRange, or nil for a value that does not parse
		msg   string // the error's whole message; empty when it converts
	}{
		{"size from a string", size, str("4KiB"), Value{Kind: KindSize, Int: 4096}, nil, ""},
		{"size from a number", size, num("4096"), Value{Kind: KindSize, Int: 4096}, nil, ""},
		{"size not whole", size, num("1000.5"), Value{}, nil, "1000.5 is not a whole number"},
		{"size negative", size, num("-1"), Value{}, nil, "a size cannot be negative"},
		{"size bad unit", size, str("12pc"), Value{}, nil, `size "12pc" has an unknown unit "pc" (use B, KiB, MiB, GiB or TiB)`},
		{"size out of range", size, str("4MiB"), Value{}, ErrOutOfRange, "4MiB is out of range [512B, 1MiB]"},
		{"size from a list", size, list, Value{}, ErrWrongType,
			`takes a size: a number of bytes, or a string with a unit such as "128KiB" or "1MiB"; this is a list`},
		{"size from a bool", size, boolean(true), Value{}, ErrWrongType,
			`takes a size: a number of bytes, or a string with a unit such as "128KiB" or "1MiB"; this is a bool`},
		{"duration from a string", dur, str("250ms"), Value{Kind: KindDuration, Int: int64(250 * time.Millisecond)}, nil, ""},
		{"duration from seconds", dur, num("0.5"), Value{Kind: KindDuration, Int: int64(500 * time.Millisecond)}, nil, ""},
		{"duration below a nanosecond", dur, num("0.0000000001"), Value{}, nil, "0.0000000001 seconds is not a whole number of nanoseconds"},
		{"int from a number", Option{Kind: KindInt}, num("42"), Value{Kind: KindInt, Int: 42}, nil, ""},
		{"int from hex", Option{Kind: KindInt}, str("0x10"), Value{Kind: KindInt, Int: 16}, nil, ""},
		{"int too large", Option{Kind: KindInt}, num("1000000000000000000000000000000"), Value{}, nil, "1e+30 is too large"},
		{"bool", Option{Kind: KindBool}, boolean(true), Value{Kind: KindBool, Bool: true}, nil, ""},
		{"bool from on", Option{Kind: KindBool}, str("on"), Value{Kind: KindBool, Bool: true}, nil, ""},
		{"bool from a number", Option{Kind: KindBool}, num("1"), Value{}, ErrWrongType, "takes true or false; this is a number"},
		{"enum any case", Option{Kind: KindEnum, Enum: []string{"red", "green"}}, str("RED"), Value{Kind: KindEnum, Str: "red"}, nil, ""},
		{"enum not listed", Option{Kind: KindEnum, Enum: []string{"red", "green"}}, str("blue"), Value{}, nil, `"blue" is not one of red, green`},
		{"enum from an object", Option{Kind: KindEnum, Enum: []string{"red", "green", "blue"}}, obj(), Value{}, ErrWrongType,
			`takes one of "red", "green" and "blue"; this is an object`},
		{"string from a number", Option{Kind: KindString}, num("12"), Value{Kind: KindString, Str: "12"}, nil, ""},
		{"string from a bool", Option{Kind: KindString}, boolean(false), Value{Kind: KindString, Str: "false"}, nil, ""},
		{"path from a number", Option{Kind: KindPath}, num("1"), Value{}, ErrWrongType, "takes a path string; this is a number"},
		{"size map in order", Option{Kind: KindSizeMap}, obj("*.iso", str("1MiB"), "*", num("4096")),
			Value{Kind: KindSizeMap, Map: map[string]int64{"*.iso": 1 << 20, "*": 4096}, Order: []string{"*.iso", "*"}}, nil, ""},
		{"size map from a string", Option{Kind: KindSizeMap}, str("1MiB"), Value{}, ErrWrongType,
			`takes an object of glob = size, such as { "*.iso" = "1MiB" }; this is a string`},
		{"size map entry of the wrong type", Option{Kind: KindSizeMap}, obj("*.iso", boolean(true)), Value{}, ErrWrongType,
			`pattern "*.iso" takes a size: a number of bytes, or a string with a unit such as "128KiB" or "1MiB"; this is a bool`},
		{"int map entry out of range", Option{Kind: KindIntMap, Min: 1, Max: 100}, obj("*.log", num("200")), Value{}, ErrOutOfRange,
			`pattern "*.log": 200 is out of range [1, 100]`},
		{"int map pattern twice", Option{Kind: KindIntMap}, obj("*", num("1"), "*", num("2")), Value{}, nil, `pattern "*" is given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opt.Convert(tc.lit)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Convert: %v", err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("Convert = %+v, want %+v", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Convert = %+v, want an error", got)
			}
			if err.Error() != tc.msg {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
			for _, class := range []error{ErrWrongType, ErrOutOfRange} {
				if errors.Is(err, class) != (class == tc.class) {
					t.Errorf("errors.Is(%v, %v) = %v", err, class, !(class == tc.class))
				}
			}
			if strings.Contains(err.Error(), "wrong type:") {
				t.Errorf("the class leaks into the message: %q", err)
			}
		})
	}
}
