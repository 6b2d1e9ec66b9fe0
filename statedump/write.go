package statedump

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteJSON renders d as indented JSON (the Dump type's schema).
func WriteJSON(w io.Writer, d *Dump) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// Render writes d in format f.
func Render(w io.Writer, d *Dump, f Format) error {
	switch f {
	case FormatJSON:
		return WriteJSON(w, d)
	case FormatText, "":
		return WriteText(w, d)
	}
	return fmt.Errorf("%w %q: use text or json", ErrUnknownFormat, f)
}

// Write collects a dump with opts and renders it to w. Nothing of the
// stack is held while w is written.
func (d *Dumper) Write(w io.Writer, opts Options) error {
	opts, err := opts.check()
	if err != nil {
		return err
	}
	return Render(w, d.collect(opts), opts.Format)
}

// Write is a one-off dump of src to w; a long-lived caller keeps a Dumper.
func Write(w io.Writer, src Source, opts Options) error {
	d, err := New(src)
	if err != nil {
		return err
	}
	return d.Write(w, opts)
}

// FileName returns the GlusterFS-style name of a dump file:
// "<name>.<pid>.dump.<unix-seconds>". Slashes in name become underscores.
func FileName(name string, pid int, t time.Time) string {
	name = strings.ReplaceAll(name, "/", "_")
	if name == "" {
		name = "xstack"
	}
	return name + "." + strconv.Itoa(pid) + ".dump." + strconv.FormatInt(t.Unix(), 10)
}

// WriteFile writes a dump into directory dir under FileName and returns
// its path. The dump is written to a temporary file of mode 0600 in dir
// and renamed into place, so a reader never sees part of it; a dump in the
// same second as an earlier one replaces it, as in GlusterFS.
func (d *Dumper) WriteFile(dir string, opts Options) (string, error) {
	opts, err := opts.check()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("statedump: %w (set the volfile's statedump.path or $%s to a writable directory)", err, DirEnv)
	}
	dump := d.collect(opts)
	path := filepath.Join(dir, FileName(d.name, os.Getpid(), dump.StartTime))
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("statedump: %w (set the volfile's statedump.path or $XSTACK_STATEDUMP_DIR to a writable directory)", err)
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("statedump: write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if err := Render(f, dump, opts.Format); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("statedump: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("statedump: %w", err)
	}
	return path, nil
}

// DirEnv is the environment variable naming the dump directory when the
// volfile does not.
const DirEnv = "XSTACK_STATEDUMP_DIR"

// SystemDir is where dumps go when the volfile and the environment say
// nothing and the directory is writable (GlusterFS uses /var/run/gluster).
const SystemDir = "/var/run/xstack"

// DefaultDir returns the directory for dump files: configured if not "",
// else $XSTACK_STATEDUMP_DIR, else SystemDir if it is writable (root
// creates it), else os.TempDir().
func DefaultDir(configured string) string {
	if configured != "" {
		return configured
	}
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		_ = os.MkdirAll(SystemDir, 0o755)
	}
	if unix.Access(SystemDir, unix.W_OK|unix.X_OK) == nil {
		return SystemDir
	}
	return os.TempDir()
}
