package xlator

import (
	"reflect"
	"strings"
)

// KVsOf flattens a struct (or a pointer to one) into statedump lines, one
// per field, keyed by prefix and the field's json name ("submitted.read"
// for a field of a nested struct), so that a snapshot type with json tags
// prints labelled in a statedump instead of as an unlabelled {…}. Fields
// tagged "-" or unexported are left out; a field without a tag keeps its
// Go name.
func KVsOf(prefix string, v any) []KV {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return []KV{{Key: prefix, Value: v}}
	}
	var out []KV
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		fv := rv.Field(i)
		if fv.Kind() == reflect.Struct {
			out = append(out, KVsOf(name, fv.Interface())...)
			continue
		}
		out = append(out, KV{Key: name, Value: fv.Interface()})
	}
	return out
}
