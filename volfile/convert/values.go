package convert

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// GlusterFS's value syntax, turned into HCL expressions for xstack's
// options.

// units are GlusterFS's size suffixes (gf_string2bytesize): powers of
// 1024, any case, and B.
var units = []struct {
	suffix string
	mult   uint64
}{{"PB", 1 << 50}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}

// gSize parses a GlusterFS size: a number, whole or with a fraction, and
// an optional unit.
func gSize(s string) (uint64, error) {
	num, mult := s, uint64(1)
	for _, u := range units {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			num, mult = s[:len(s)-len(u.suffix)], u.mult
			break
		}
	}
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || f*float64(mult) >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is not a size (a number and one of KB, MB, GB, TB, PB or B)", s)
		}
		return uint64(f * float64(mult)), nil
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size (a number and one of KB, MB, GB, TB, PB or B)", s)
	}
	return n * mult, nil
}

// hclSize writes n bytes as xstack writes sizes: the largest IEC unit
// that divides it, else bytes.
func hclSize(n uint64) string {
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.Quote(fmt.Sprintf("%d%s", n/u.mult, u.suffix))
		}
	}
	return strconv.FormatUint(n, 10)
}

// gBool parses GlusterFS's booleans (gf_string2boolean).
func gBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "on", "yes", "true", "enable":
		return true, nil
	case "0", "off", "no", "false", "disable":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (on, off, yes, no, true, false, enable, disable, 1 or 0)", s)
}

// gSeconds parses a whole number of seconds.
func gSeconds(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	return n, nil
}

// hclString quotes s as an HCL string literal: Go's quoting, with the
// template sequences ${ and %{ escaped.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// conv is the conversion of one GlusterFS option value to the HCL
// expression of an xstack option.
type conv func(v string) (string, error)

func sizeConv(v string) (string, error) {
	n, err := gSize(v)
	if err != nil {
		return "", err
	}
	return hclSize(n), nil
}

func boolConv(v string) (string, error) {
	b, err := gBool(v)
	if err != nil {
		return "", err
	}
	return strconv.FormatBool(b), nil
}

func secondsConv(v string) (string, error) {
	n, err := gSeconds(v)
	if err != nil {
		return "", err
	}
	return strconv.Quote(fmt.Sprintf("%ds", n)), nil
}

func stringConv(v string) (string, error) { return hclString(v), nil }

// reserveConv takes a size. GlusterFS also takes a bare number as a
// percentage of the disk; xstack's reserve is a size, and converting a
// percentage would need the disk, so one other than 0 is refused.
func reserveConv(v string) (string, error) {
	if strings.HasSuffix(v, "%") || strings.Trim(v, "0123456789.") == "" {
		if f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64); err == nil && f == 0 {
			return "0", nil
		}
		return "", fmt.Errorf("%q is a percentage of the disk; xstack's reserve is a size: write the bytes to keep free, e.g. \"10GiB\"", v)
	}
	return sizeConv(v)
}

// priorityConv turns io-cache's priority list "*.h:3,*.c:2" into an HCL
// object { "*.h" = 3, "*.c" = 2 }, in the order written (the first match
// wins in both).
func priorityConv(v string) (string, error) {
	var parts []string
	for _, e := range strings.Split(v, ",") {
		pat, pri, ok := strings.Cut(strings.TrimSpace(e), ":")
		n, err := strconv.ParseUint(pri, 10, 31)
		if !ok || pat == "" || err != nil {
			return "", fmt.Errorf("%q is not a priority list (pattern:priority, comma-separated)", v)
		}
		parts = append(parts, fmt.Sprintf("%s = %d", hclString(pat), n))
	}
	return "{ " + strings.Join(parts, ", ") + " }", nil
}

// blockSizes splits cluster/stripe's block-size list ("128KB" or
// "*.iso:1MB,*.img:1MB,256KB") into the default and the patterns.
func blockSizes(v string) (def string, patterns string, err error) {
	var parts []string
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		pat, size, ok := strings.Cut(e, ":")
		if !ok {
			size = pat
		}
		n, err := gSize(size)
		if err != nil {
			return "", "", fmt.Errorf("block-size entry %q: %v", e, err)
		}
		if !ok || pat == "*" {
			def = hclSize(n)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s = %s", hclString(pat), hclSize(n)))
	}
	if len(parts) > 0 {
		patterns = "{ " + strings.Join(parts, ", ") + " }"
	}
	return def, patterns, nil
}
