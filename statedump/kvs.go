package statedump

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// KVs are a translator's private state or a section's keys and values, in
// the order they were given. In JSON they are one object, keys in that
// order: {"held-bytes": 1048576, "pages": 8}. Version 1 dumps wrote a
// list of {"key", "value"} objects; UnmarshalJSON reads both.
type KVs []KV

// MarshalJSON writes the keys and values as one object, in order.
func (k KVs) MarshalJSON() ([]byte, error) {
	if k == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range k {
		if i > 0 {
			b.WriteByte(',')
		}
		key, err := json.Marshal(kv.Key)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("statedump: value of %q: %w", kv.Key, err)
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object, keeping its keys' order, or a version 1
// list of {"key", "value"}. Numbers become float64, as encoding/json
// decodes them into an interface.
func (k *KVs) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		*k = nil
		return nil
	case len(data) > 0 && data[0] == '[':
		var list []KV
		if err := json.Unmarshal(data, &list); err != nil {
			return err
		}
		*k = list
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("statedump: key-value object expected, got %.40s", data)
	}
	out := KVs{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("statedump: object key expected, got %v", t)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("statedump: value of %q: %w", key, err)
		}
		out = append(out, KV{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	*k = out
	return nil
}
