package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xstack/xstack/plugin/internal/transport"
	"github.com/xstack/xstack/xlator"
)

// A plugin publishes its schema in a file beside its binary, so that
// loading a volfile (xstack validate, graph, types, and every start)
// checks a plugin volume's options without running anything the volfile
// names. The file is JSON: the type's name, doc, bounds on subvolumes and
// options, and the SHA-256 of the binary that wrote it. The loader uses
// it only for the binary it names; the running plugin's own answer at
// start stays the authority (options.go).

// SchemaFile returns where the schema of the plugin binary at path is
// published: path + ".schema.json".
func SchemaFile(binary string) string { return binary + ".schema.json" }

// schemaFormat names the layout of the file, for a future change.
const schemaFormat = "xstack-plugin-schema/1"

// maxSchemaFile bounds what the loader reads of a schema file, which a
// volfile can point anywhere.
const maxSchemaFile = 1 << 20

// maxBinary bounds what the loader reads of a plugin binary to hash it.
const maxBinary = 1 << 30

// openRegular opens the file at path for reading if it is a regular file.
// It never blocks: a volfile could name a FIFO, whose open waits for a
// writer, or a device that never ends.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
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

// writeSchema writes t's schema file for the running executable to w. It
// refuses a schema whose defaults do not parse, which no volfile could
// satisfy.
func writeSchema(w io.Writer, t xlator.Type) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	sum, err := fileSum(exe)
	if err != nil {
		return err
	}
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

// schemaUnknown is why a plugin volume's options cannot be checked before
// it starts; it is an xlator.ErrSchemaUnknown.
type schemaUnknown struct{ reason string }

func (e *schemaUnknown) Error() string { return e.reason }
func (e *schemaUnknown) Unwrap() error { return xlator.ErrSchemaUnknown }

func publishHint(binary string) string {
	return fmt.Sprintf("its author or installer publishes it by running the trusted binary once: %s %s > %s",
		binary, transport.SchemaFlag, SchemaFile(binary))
}

// readSchema returns the schema published for the binary at path, whose
// SHA-256 is sum. Its error wraps xlator.ErrSchemaUnknown when there is no
// schema for that binary: no file, one that cannot be read, or one
// written by another binary (a stale one).
func readSchema(binary, sum string) (xlator.Type, error) {
	file := SchemaFile(binary)
	f, _, err := openRegular(file)
	if errors.Is(err, fs.ErrNotExist) {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("%s publishes no schema (no %s); %s", binary, file, publishHint(binary))}
	}
	if err != nil {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("cannot read the schema %s: %v", file, err)}
	}
	defer f.Close()
	var doc schemaDoc
	dec := json.NewDecoder(io.LimitReader(f, maxSchemaFile))
	if err := dec.Decode(&doc); err != nil {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("%s is not a schema file: %v; %s", file, err, publishHint(binary))}
	}
	t, err := doc.typ()
	if err != nil {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("%s is not a schema xstack can use: %v; %s", file, err, publishHint(binary))}
	}
	if !strings.EqualFold(doc.BinarySHA256, sum) {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("%s was published by a binary with sha256 %s, and %s has sha256 %s (rebuilt since?); %s",
			file, doc.BinarySHA256, binary, sum, publishHint(binary))}
	}
	return t, nil
}

// typ checks the document and returns the type it describes (no New).
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
			return t, fmt.Errorf("an option has no name")
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

// ReadSchema returns the type the plugin binary at path publishes (name,
// doc, bounds on subvolumes and options; no constructor), reading the
// binary and its schema file and running neither. The error wraps
// xlator.ErrSchemaUnknown when the binary publishes no schema, or none
// written by this very binary.
func ReadSchema(binary string) (xlator.Type, error) {
	sum, err := fileSum(binary)
	if err != nil {
		return xlator.Type{}, fmt.Errorf("plugin binary: %w", err)
	}
	return readSchema(binary, sum)
}

// schemaDiff describes how the schema the running plugin declares (run)
// differs from the published one (pub) in what the loader checked: the
// options' names, kinds, defaults, bounds, values and whether they are
// required, and the subvolume bounds. It returns "" when they agree;
// docs may differ.
func schemaDiff(pub, run xlator.Type) string {
	var d []string
	if pub.Name != run.Name {
		d = append(d, fmt.Sprintf("type: published %q, the plugin is %q", pub.Name, run.Name))
	}
	if pub.MinChildren != run.MinChildren || pub.MaxChildren != run.MaxChildren {
		d = append(d, fmt.Sprintf("subvolumes: published %s, the plugin takes %s",
			childBounds(pub.MinChildren, pub.MaxChildren), childBounds(run.MinChildren, run.MaxChildren)))
	}
	for _, p := range pub.Options {
		r, ok := run.Options.Lookup(p.Name)
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("option %q: published (%s), the plugin has no such option", p.Name, describeOption(p)))
		case describeOption(p) != describeOption(r):
			d = append(d, fmt.Sprintf("option %q: published %s, the plugin declares %s", p.Name, describeOption(p), describeOption(r)))
		}
	}
	for _, r := range run.Options {
		if _, ok := pub.Options.Lookup(r.Name); !ok {
			d = append(d, fmt.Sprintf("option %q: not published, the plugin declares it (%s)", r.Name, describeOption(r)))
		}
	}
	return strings.Join(d, "; ")
}

func childBounds(lo, hi int) string {
	if hi < 0 {
		return fmt.Sprintf("%d or more", lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// describeOption renders what the loader checks of o: "size, default
// 64KiB, 512B to 1MiB, required".
func describeOption(o xlator.Option) string {
	s := o.Kind.String()
	if o.Default != "" {
		s += fmt.Sprintf(", default %q", o.Default)
	}
	switch {
	case o.Max != 0:
		s += ", " + formatBound(o, o.Min) + " to " + formatBound(o, o.Max)
	case o.Min != 0:
		s += ", at least " + formatBound(o, o.Min)
	}
	if len(o.Enum) > 0 {
		s += ", one of " + strings.Join(o.Enum, "|")
	}
	if o.Required {
		s += ", required"
	}
	return s
}

func formatBound(o xlator.Option, n int64) string {
	switch o.Kind {
	case xlator.KindSize, xlator.KindSizeMap:
		return xlator.FormatSize(n)
	case xlator.KindDuration:
		return time.Duration(n).String()
	}
	return strconv.FormatInt(n, 10)
}

// sumCache remembers the SHA-256 of each plugin binary the loader read,
// by path, size, modification and change time and inode, so that loading
// the same volfile again does not read the binary again.
type sumCache struct {
	mu sync.Mutex
	m  map[sumKey]string
}

type sumKey struct {
	path               string
	size, mtime, ctime int64
	dev, ino           uint64
}

func newSumCache() *sumCache { return &sumCache{m: map[sumKey]string{}} }

func (c *sumCache) sum(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	k := sumKey{path: path, size: st.Size(), mtime: st.ModTime().UnixNano()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		k.ctime, k.dev, k.ino = s.Ctim.Nano(), uint64(s.Dev), s.Ino
	}
	c.mu.Lock()
	sum, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return sum, nil
	}
	if sum, err = fileSum(path); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.m[k] = sum
	c.mu.Unlock()
	return sum, nil
}

// schemaFor is the plugin type's SchemaFor: it checks the binary against
// the volume's sha256, when given, and returns the options its published
// schema declares. It reads the binary and the schema file and runs
// nothing.
func (c *sumCache) schemaFor(boot xlator.Options) (xlator.Schema, error) {
	path, pin := boot.String("path"), boot.String("sha256")
	if pin != "" {
		if err := checkPin(pin); err != nil {
			return nil, err
		}
	}
	sum, err := c.sum(path)
	if err != nil {
		return nil, fmt.Errorf("plugin binary: %w", err)
	}
	if pin != "" && !strings.EqualFold(pin, sum) {
		return nil, checksumError(path, sum, pin)
	}
	t, err := readSchema(path, sum)
	if err != nil {
		return nil, err
	}
	return t.Options, nil
}
