package xlator

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of an option value.
type Kind int

// The option kinds a schema can declare. A volfile gives every kind as an
// HCL value: Bool as true/false, Int as a number, Size as a number of bytes
// or a string with a unit ("128KiB"), Duration as a string ("1s", "250ms"),
// Enum, String and Path as strings, SizeMap and IntMap as objects whose keys
// are glob patterns ({ "*.iso" = "1MiB" }).
const (
	KindString Kind = iota
	KindBool
	KindInt
	KindSize
	KindDuration
	KindEnum
	KindPath
	KindSizeMap
	KindIntMap
)

var kindNames = [...]string{"string", "bool", "int", "size", "duration", "enum", "path", "size map", "int map"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ParseKind returns the kind String names ("size", "size map").
func ParseKind(name string) (Kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return Kind(k), true
		}
	}
	return 0, false
}

// Option declares one option of an xlator type: its name as written in a
// volfile, its kind, and its constraints. Min and Max bound Int, Size and
// Duration values (Duration in nanoseconds); both zero means unbounded.
type Option struct {
	Name     string
	Kind     Kind
	Default  string // in volfile syntax: "128KiB", "1s", "true", "off"; empty for none
	Min, Max int64
	Enum     []string // the allowed values of a KindEnum option
	Required bool
	Doc      string
	// FromVolfile makes a relative KindPath value relative to the
	// volfile's directory rather than the runtime's current directory
	// (a plugin binary shipped beside its volfile).
	FromVolfile bool
}

// Schema is the ordered list of options an xlator type accepts.
type Schema []Option

// Lookup returns the option named name.
func (s Schema) Lookup(name string) (Option, bool) {
	for _, o := range s {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// Names returns the option names, for "did you mean" suggestions.
func (s Schema) Names() []string {
	n := make([]string, len(s))
	for i, o := range s {
		n[i] = o.Name
	}
	return n
}

// Value is one decoded option value. Exactly the field of its Kind is set.
type Value struct {
	Kind  Kind
	Str   string // String, Enum, Path
	Bool  bool
	Int   int64 // Int, Size (bytes), Duration (nanoseconds)
	Map   map[string]int64
	Order []string // keys of Map in the order written; patterns match first to last
}

// Options holds the decoded, validated options of one volume; every option
// of the schema is present, defaults filled in. Options is read-only after
// the volfile is loaded and safe for concurrent use.
type Options struct {
	vals map[string]Value
	set  map[string]bool
}

// NewOptions returns empty options; Set fills them. The volfile loader and
// tests build options this way.
func NewOptions() Options { return Options{vals: map[string]Value{}, set: map[string]bool{}} }

// Set stores v under name; explicit reports whether the volfile gave it
// (false for a default).
func (o *Options) Set(name string, v Value, explicit bool) {
	if o.vals == nil {
		*o = NewOptions()
	}
	o.vals[name] = v
	if explicit {
		o.set[name] = true
	}
}

// Has reports whether name has a value (given or default).
func (o Options) Has(name string) bool { _, ok := o.vals[name]; return ok }

// IsSet reports whether the volfile gave name explicitly.
func (o Options) IsSet(name string) bool { return o.set[name] }

// Get returns the value of name.
func (o Options) Get(name string) (Value, bool) { v, ok := o.vals[name]; return v, ok }

// String returns a String, Enum or Path option ("" when absent).
func (o Options) String(name string) string { return o.vals[name].Str }

// Bool returns a Bool option (false when absent).
func (o Options) Bool(name string) bool { return o.vals[name].Bool }

// Int returns an Int or Size option (0 when absent).
func (o Options) Int(name string) int64 { return o.vals[name].Int }

// Size returns a Size option in bytes (0 when absent).
func (o Options) Size(name string) int64 { return o.vals[name].Int }

// Duration returns a Duration option (0 when absent).
func (o Options) Duration(name string) time.Duration { return time.Duration(o.vals[name].Int) }

// Patterns returns a SizeMap or IntMap option as pattern/value pairs in the
// order the volfile wrote them.
func (o Options) Patterns(name string) []Pattern {
	v := o.vals[name]
	out := make([]Pattern, 0, len(v.Order))
	for _, k := range v.Order {
		out = append(out, Pattern{Glob: k, Value: v.Map[k]})
	}
	return out
}

// Names returns the names that have values, sorted.
func (o Options) Names() []string {
	n := make([]string, 0, len(o.vals))
	for k := range o.vals {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Pattern is one entry of a SizeMap or IntMap option.
type Pattern struct {
	Glob  string
	Value int64
}

// Match reports whether name matches the pattern (filepath.Match syntax,
// applied to the base name).
func (p Pattern) Match(name string) bool {
	ok, _ := filepath.Match(p.Glob, name)
	return ok
}

// ParseSize parses a byte size: a plain number of bytes, or a number with
// a unit. Units are binary whatever their spelling, as in GlusterFS
// (KB = KiB = K = 1024): B, K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB, TiB,
// in any case. Fractions are allowed with a unit ("1.5MiB").
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("size %q does not start with a number", s)
	}
	var mul float64
	switch unit {
	case "", "b":
		mul = 1
	case "k", "kb", "kib":
		mul = 1 << 10
	case "m", "mb", "mib":
		mul = 1 << 20
	case "g", "gb", "gib":
		mul = 1 << 30
	case "t", "tb", "tib":
		mul = 1 << 40
	default:
		return 0, fmt.Errorf("size %q has an unknown unit %q (use B, KiB, MiB, GiB or TiB)", s, t[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q is not a number", s)
	}
	v := f * mul
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return int64(v), nil
}

// FormatSize renders n bytes with the largest binary unit that divides it.
func FormatSize(n int64) string {
	units := []string{"TiB", "GiB", "MiB", "KiB"}
	shifts := []uint{40, 30, 20, 10}
	for i, sh := range shifts {
		if n != 0 && n%(1<<sh) == 0 {
			return strconv.FormatInt(n>>sh, 10) + units[i]
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// ParseDuration parses a Go duration ("1s", "250ms", "1m30s"); a plain
// number is taken as seconds, as GlusterFS options are.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("duration %q: use a number with a unit such as 500ms, 1s or 2m", s)
	}
	return d, nil
}

// ParseBool accepts the spellings GlusterFS accepts.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "yes", "enable", "1":
		return true, nil
	case "false", "off", "no", "disable", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use true or false)", s)
}

// ParseScalar decodes a string in volfile syntax as a value of the option's
// kind and checks its range. The volfile loader uses it for defaults and for
// string-typed values; its errors name the problem but not the option.
func (opt Option) ParseScalar(s string) (Value, error) {
	v := Value{Kind: opt.Kind}
	switch opt.Kind {
	case KindString, KindPath:
		v.Str = s
		if opt.Kind == KindPath && s == "" && opt.Required {
			return v, fmt.Errorf("empty path")
		}
	case KindEnum:
		for _, e := range opt.Enum {
			if strings.EqualFold(e, s) {
				v.Str = e
				return v, nil
			}
		}
		return v, fmt.Errorf("%q is not one of %s", s, strings.Join(opt.Enum, ", "))
	case KindBool:
		b, err := ParseBool(s)
		if err != nil {
			return v, err
		}
		v.Bool = b
	case KindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
		if err != nil {
			return v, fmt.Errorf("%q is not a whole number", s)
		}
		v.Int = n
	case KindSize:
		n, err := ParseSize(s)
		if err != nil {
			return v, err
		}
		v.Int = n
	case KindDuration:
		d, err := ParseDuration(s)
		if err != nil {
			return v, err
		}
		v.Int = int64(d)
	default:
		return v, fmt.Errorf("a %s option takes an object of pattern = value", opt.Kind)
	}
	return v, opt.CheckRange(v)
}

// CheckRange reports a value outside [Min, Max] for the numeric kinds.
func (opt Option) CheckRange(v Value) error {
	if opt.Min == 0 && opt.Max == 0 {
		return nil
	}
	check := func(n int64) error {
		if n < opt.Min || (opt.Max != 0 && n > opt.Max) {
			if opt.Max == 0 {
				return fmt.Errorf("%s is below the minimum %s", opt.format(n), opt.format(opt.Min))
			}
			return fmt.Errorf("%s is out of range [%s, %s]", opt.format(n), opt.format(opt.Min), opt.format(opt.Max))
		}
		return nil
	}
	switch opt.Kind {
	case KindInt, KindSize, KindDuration:
		return check(v.Int)
	case KindSizeMap, KindIntMap:
		for _, k := range v.Order {
			if err := check(v.Map[k]); err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
		}
	}
	return nil
}

func (opt Option) format(n int64) string {
	switch opt.Kind {
	case KindSize, KindSizeMap:
		return FormatSize(n)
	case KindDuration:
		return time.Duration(n).String()
	}
	return strconv.FormatInt(n, 10)
}

// Decode returns options for the schema: its defaults, overridden by set
// (values in volfile syntax, as ParseScalar takes them), with every
// override marked as given. It is how embedders and tests configure a
// translator without writing a volfile; an unknown name or a bad value is
// an error naming the option.
func (s Schema) Decode(set map[string]string) (Options, error) {
	o := NewOptions()
	for name := range set {
		if _, ok := s.Lookup(name); !ok {
			return o, fmt.Errorf("unknown option %q", name)
		}
	}
	for _, opt := range s {
		str, explicit := set[opt.Name]
		if !explicit {
			str = opt.Default
		}
		if str == "" && !explicit {
			continue
		}
		v, err := opt.ParseScalar(str)
		if err != nil {
			return o, fmt.Errorf("option %s = %q: %w", opt.Name, str, err)
		}
		o.Set(opt.Name, v, explicit)
	}
	return o, nil
}
