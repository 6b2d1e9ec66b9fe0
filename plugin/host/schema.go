package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xstack/xstack/plugin/internal/rpc"
	"github.com/xstack/xstack/plugin/internal/transport"
	"github.com/xstack/xstack/xlator"
)

// Loading a volfile checks a plugin volume's options against the schema
// its binary publishes beside it (rpc's schemafile.go has the format), so
// that xstack validate, graph, types and every start check a plugin
// volume without running anything the volfile names. The loader uses the
// file only for the binary it names; the running plugin's own answer at
// start stays the authority (options.go).

// SchemaFile returns where the schema of the plugin binary at path is
// published: path + ".schema.json".
func SchemaFile(binary string) string { return rpc.SchemaFile(binary) }

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
	f, _, err := rpc.OpenRegular(file)
	if errors.Is(err, fs.ErrNotExist) {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("%s publishes no schema (no %s); %s", binary, file, publishHint(binary))}
	}
	if err != nil {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("cannot read the schema %s: %v", file, err)}
	}
	defer f.Close()
	t, by, err := rpc.ReadSchema(f)
	if err != nil {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("%s is %v; %s", file, err, publishHint(binary))}
	}
	if !strings.EqualFold(by, sum) {
		return xlator.Type{}, &schemaUnknown{fmt.Sprintf("%s was published by a binary with sha256 %s, and %s has sha256 %s (rebuilt since?); %s",
			file, by, binary, sum, publishHint(binary))}
	}
	return t, nil
}

// ReadSchema returns the type the plugin binary at path publishes (name,
// doc, bounds on subvolumes and options; no constructor), reading the
// binary and its schema file and running neither. The error wraps
// xlator.ErrSchemaUnknown when the binary publishes no schema, or none
// written by this very binary.
func ReadSchema(binary string) (xlator.Type, error) {
	sum, err := rpc.FileSum(binary)
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
	if sum, err = rpc.FileSum(path); err != nil {
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
