package rpc

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// The schema file. A plugin publishes its schema in a file beside its
// binary, so that loading a volfile checks a plugin volume's options
// without running anything the volfile names. The plugin's binary writes
// it (run with transport.SchemaFlag), the host's loader reads it: this
// file is the format both agree on. It is JSON: the type's name, doc,
// bounds on subvolumes and options, and the SHA-256 of the binary that
// wrote it (FileSum), by which the loader knows whether the file speaks
// for the binary beside it.

// SchemaFile returns where the schema of the plugin binary at path is
// published: path + ".schema.json".
func SchemaFile(binary string) string { return binary + ".schema.json" }

// schemaFormat names the layout of the file, for a future change.
const schemaFormat = "xstack-plugin-schema/1"

// maxSchemaFile bounds what ReadSchema reads of a schema file, which a
// volfile can point anywhere.
const maxSchemaFile = 1 << 20

// maxBinary bounds what FileSum reads of a plugin binary.
const maxBinary = 1 << 30

type schemaDoc struct {
	Format       string         `json:"format"`
	BinarySHA256 string         `json:"binary-sha256"`
	Name         string         `json:"name"`
	Doc          string         `json:"doc,omitempty"`
	MinChildren  int            `json:"min-children"`
	MaxChildren  int            `json:"max-children"`
	Options      []schemaOption `json:"options"`
}

type schemaOption struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Default  string   `json:"default,omitempty"`
	Min      int64    `json:"min,omitempty"`
	Max      int64    `json:"max,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Required bool     `json:"required,omitempty"`
	Doc      string   `json:"doc,omitempty"`
}

// WriteSchema writes the schema file of type t, served by the binary
// whose hex SHA-256 is sum, to w. It refuses a schema whose defaults do
// not parse, which no volfile could satisfy.
func WriteSchema(w io.Writer, t xlator.Type, sum string) error {
	doc := schemaDoc{Format: schemaFormat, BinarySHA256: sum, Name: t.Name, Doc: t.Doc,
		MinChildren: t.MinChildren, MaxChildren: t.MaxChildren, Options: []schemaOption{}}
	for _, o := range t.Options {
		if o.Default != "" {
			if _, err := o.ParseScalar(o.Default); err != nil {
				return fmt.Errorf("option %q: default %q: %w", o.Name, o.Default, err)
			}
		}
		doc.Options = append(doc.Options, schemaOption{Name: o.Name, Kind: o.Kind.String(), Default: o.Default,
			Min: o.Min, Max: o.Max, Enum: o.Enum, Required: o.Required, Doc: o.Doc})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// ReadSchema decodes a schema file from r, reading at most 1 MiB, and
// returns the type it describes (no New) and the SHA-256 of the binary
// that wrote it, as written. Its error says the file is "not a schema
// file" (not JSON of this shape) or "not a schema xstack can use" (another
// format, an option without a name, declared twice or of an unknown kind).
func ReadSchema(r io.Reader) (t xlator.Type, sum string, err error) {
	var doc schemaDoc
	if err := json.NewDecoder(io.LimitReader(r, maxSchemaFile)).Decode(&doc); err != nil {
		return xlator.Type{}, "", fmt.Errorf("not a schema file: %v", err)
	}
	if t, err = doc.typ(); err != nil {
		return xlator.Type{}, "", fmt.Errorf("not a schema xstack can use: %v", err)
	}
	return t, doc.BinarySHA256, nil
}

// typ checks the document and returns the type it describes.
func (d *schemaDoc) typ() (xlator.Type, error) {
	if d.Format != schemaFormat {
		return xlator.Type{}, fmt.Errorf("format %q, want %q", d.Format, schemaFormat)
	}
	t := xlator.Type{Name: d.Name, Doc: d.Doc, MinChildren: d.MinChildren, MaxChildren: d.MaxChildren}
	seen := map[string]bool{}
	for _, o := range d.Options {
		k, ok := xlator.ParseKind(o.Kind)
		switch {
		case o.Name == "":
			return t, errors.New("an option has no name")
		case seen[o.Name]:
			return t, fmt.Errorf("option %q is declared twice", o.Name)
		case !ok:
			return t, fmt.Errorf("option %q has an unknown kind %q", o.Name, o.Kind)
		}
		seen[o.Name] = true
		t.Options = append(t.Options, xlator.Option{Name: o.Name, Kind: k, Default: o.Default,
			Min: o.Min, Max: o.Max, Enum: o.Enum, Required: o.Required, Doc: o.Doc})
	}
	return t, nil
}

// OpenRegular opens the file at path for reading if it is a regular file.
// It never blocks: a volfile could name a FIFO, whose open waits for a
// writer, or a device that never ends.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		what := "not a regular file"
		switch m := st.Mode(); {
		case m.IsDir():
			what = "a directory"
		case m&fs.ModeNamedPipe != 0:
			what = "a named pipe"
		case m&fs.ModeDevice != 0:
			what = "a device"
		}
		err = fmt.Errorf("%s is %s, not a plugin binary", path, what)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// FileSum returns the hex SHA-256 of the file at path, a regular file of
// at most 1 GiB (OpenRegular): a volfile may name anything as a plugin.
func FileSum(path string) (string, error) {
	f, st, err := OpenRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tooLarge := fmt.Errorf("%s is larger than any plugin binary (%s)", path, xlator.FormatSize(maxBinary))
	if st.Size() > maxBinary {
		return "", tooLarge
	}
	hs := sha256.New()
	// The size a file reports may be wrong (procfs).
	n, err := io.Copy(hs, io.LimitReader(f, maxBinary+1))
	if err != nil {
		return "", err
	}
	if n > maxBinary {
		return "", tooLarge
	}
	return hex.EncodeToString(hs.Sum(nil)), nil
}
