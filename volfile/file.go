package volfile

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/xstack/xstack/xlator"
)

// File is a loaded, validated volfile.
type File struct {
	// Spec is the translator graph; never nil in a File that Parse returns.
	Spec *xlator.Spec
	// Mount is the FUSE front end, nil when the volfile has no mount block.
	Mount *Mount
	// Statedump holds the statedump settings, nil when the volfile has no
	// statedump block.
	Statedump *Statedump
	// Metrics holds the Prometheus endpoint's settings, nil when the
	// volfile has no metrics block.
	Metrics *Metrics
	// Memory holds the memory settings, nil when the volfile has no
	// memory block.
	Memory *Memory
	// Vars holds the value of every declared variable: the value passed to
	// Parse if any, else the default.
	Vars map[string]string
}

// Mount is the volfile's mount block: where and how to mount the graph top
// with FUSE. Fields not written take the defaults below.
type Mount struct {
	Path            string        // mount point; required, kept as written
	EntryTimeout    time.Duration // "entry-timeout", default 1s: kernel caches names this long
	AttrTimeout     time.Duration // "attr-timeout", default 1s: kernel caches attributes this long
	NegativeTimeout time.Duration // "negative-timeout", default 0: caching of failed lookups
	MaxWrite        int64         // "max-write", default 1MiB: largest write the kernel sends
	ReadAhead       int64         // "read-ahead", default 1MiB: the kernel's readahead on the mount
	// DefaultPermissions ("default-permissions", default true) lets the
	// kernel check permissions from the mode bits instead of asking xstack.
	DefaultPermissions bool
	// AllowOther ("allow-other") lets users other than the one who
	// mounted use the mount; nil when not written, which the mounter
	// takes as true for root (as GlusterFS mounts) and false otherwise
	// (fuse.DefaultConfig).
	AllowOther *bool
	// InodeLRULimit ("inode-lru-limit", default 65536, 0 for none) bounds
	// the inodes the kernel holds: past it the least recently used
	// files' names are dropped from its cache, and it forgets them.
	InodeLRULimit int64
	// Passthrough ("passthrough", default false) lets the kernel read and
	// write the brick files of a graph that leaves file data alone
	// (posix without a reserve) itself.
	Passthrough bool
	// WritebackCache ("writeback-cache", default false) lets the kernel
	// keep writes in its page cache and send them merged; it excludes
	// passthrough.
	WritebackCache bool
	// Transport ("transport", default "dev-fuse") is how requests
	// travel between the kernel and xstack: "dev-fuse" (read and
	// write on /dev/fuse) or "io-uring" (FUSE over io_uring: Linux
	// 6.14+, enable_uring set, root; served through /dev/fuse, with a
	// log line, where it cannot be had).
	Transport string
	FSName    string // "fsname": the source shown by mount(8); "" when not written (the mounter names the stack: xstack:NAME)
	Pos       string // file:line:col of the mount block
}

// Statedump is the volfile's statedump block.
type Statedump struct {
	// Path is the directory where a SIGUSR1 writes its dumps; "" lets the
	// runtime choose.
	Path string
	// Socket is the admin socket's path; "" lets the runtime choose.
	Socket string
}

// Metrics is the volfile's metrics block: where a running stack serves
// its statistics to Prometheus (see package metrics).
type Metrics struct {
	// Address is HOST:PORT to listen on ("127.0.0.1:9464"); port 0 picks
	// a free port.
	Address string
	Pos     string // file:line:col of the metrics block
}

// Memory is the volfile's memory block: how the running stack gives
// memory back (see package runtime/reclaim).
type Memory struct {
	// Limit ("limit", 0 when not written) is the memory the daemon
	// should stay under: its Go memory plus the slab caches and iobuf
	// arenas it has mapped. At 90% of it the stack shrinks its slab
	// caches, iobuf arenas and mem-pools. 0 means the Go runtime's
	// memory limit (GOMEMLIMIT) if one is set, else none.
	Limit int64
	// ReapInterval ("reap-interval", default 2s) is how often the slab
	// reaper gives idle slabs back, as the kernel's cache_reap does.
	ReapInterval time.Duration
	Pos          string // file:line:col of the memory block
}

// The schemas of the mount, statedump and metrics blocks. They reuse the option
// machinery of xlator types so that their values and diagnostics behave
// exactly like volume options.
var (
	mountSchema = xlator.Schema{
		{Name: "path", Kind: xlator.KindPath, Required: true, Doc: "the directory to mount on"},
		{Name: "entry-timeout", Kind: xlator.KindDuration, Default: "1s", Min: 0, Max: int64(24 * time.Hour)},
		{Name: "attr-timeout", Kind: xlator.KindDuration, Default: "1s", Min: 0, Max: int64(24 * time.Hour)},
		{Name: "negative-timeout", Kind: xlator.KindDuration, Default: "0s", Min: 0, Max: int64(24 * time.Hour)},
		{Name: "max-write", Kind: xlator.KindSize, Default: "1MiB", Min: 4 << 10, Max: 16 << 20},
		{Name: "read-ahead", Kind: xlator.KindSize, Default: "1MiB", Min: 0, Max: 64 << 20,
			Doc: "the kernel's readahead on the mount (0: the kernel's default, 128KiB)"},
		{Name: "default-permissions", Kind: xlator.KindBool, Default: "true"},
		{Name: "allow-other", Kind: xlator.KindBool,
			Doc: "let other users use the mount (default: true for root, with the kernel checking permissions, false otherwise)"},
		{Name: "passthrough", Kind: xlator.KindBool, Default: "false",
			Doc: "let the kernel read and write the files of a graph that leaves file data alone (posix without a reserve) itself: kernel 6.9 or later, root"},
		{Name: "writeback-cache", Kind: xlator.KindBool, Default: "false",
			Doc: "let the kernel keep writes in its page cache and send them merged (FUSE's writeback cache): far fewer round trips for small writes; the stack may see them only at close or fsync, and the kernel's size and mtime of a file it holds dirty pages of win over changes made below the mount; excludes passthrough"},
		{Name: "transport", Kind: xlator.KindEnum, Enum: []string{"dev-fuse", "io-uring"}, Default: "dev-fuse",
			Doc: "how requests travel between the kernel and xstack: dev-fuse, or io-uring (FUSE over io_uring: Linux 6.14+ with the fuse module's enable_uring set, root; falls back to dev-fuse with a log line)"},
		{Name: "inode-lru-limit", Kind: xlator.KindInt, Default: "65536", Min: 0, Max: 1 << 30,
			Doc: "inodes the kernel may hold before the least recently used files are dropped from its cache (0: no limit)"},
		{Name: "fsname", Kind: xlator.KindString,
			Doc: "the source mount(8) and df show (default: xstack:NAME, NAME the volfile's base name)"},
	}
	statedumpSchema = xlator.Schema{
		{Name: "path", Kind: xlator.KindPath, Doc: "directory for SIGUSR1 dumps"},
		{Name: "socket", Kind: xlator.KindPath, Doc: "admin socket path"},
	}
	memorySchema = xlator.Schema{
		{Name: "limit", Kind: xlator.KindSize, Default: "0", Min: 0, Max: 1 << 50,
			Doc: "memory the daemon stays under by shrinking slab caches, iobuf arenas and mem-pools at 90% of it (0: GOMEMLIMIT if set, else none)"},
		{Name: "reap-interval", Kind: xlator.KindDuration, Default: "2s", Min: int64(10 * time.Millisecond), Max: int64(time.Hour),
			Doc: "how often the slab reaper gives idle slabs back"},
	}
	metricsSchema = xlator.Schema{
		{Name: "address", Kind: xlator.KindString, Required: true,
			Doc: "HOST:PORT to serve Prometheus metrics on, e.g. \"127.0.0.1:9464\""},
	}
)

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "top"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "volume", LabelNames: []string{"name"}},
		{Type: "mount"},
		{Type: "statedump"},
		{Type: "metrics"},
		{Type: "memory"},
	},
}

// Load reads the volfile at path and parses it; see Parse. A file that
// cannot be read gives an error diagnostic without a source position.
func Load(path string, reg *xlator.Registry, vars map[string]string) (*File, *Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &Diagnostics{Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read volfile",
			Detail:   err.Error(),
		}}}
	}
	return Parse(src, path, reg, vars)
}

// Parse decodes and validates the volfile src; filename names it in
// diagnostics and becomes Spec.Source. reg supplies the xlator types;
// vars sets variables by name, overriding their defaults.
//
// On success the File is non-nil and the diagnostics are nil, or hold only
// warnings (such as a volume not reachable from an explicit top, which is
// left out of the Spec). On any error the File is nil. Parse neither keeps
// src nor modifies reg or vars.
func Parse(src []byte, filename string, reg *xlator.Registry, vars map[string]string) (*File, *Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	out := &Diagnostics{files: map[string]*hcl.File{filename: f}}
	if f == nil || fatalSyntax(diags) {
		out.Diags = diags
		return nil, out
	}
	p := &parser{reg: reg, filename: filename, diags: diags}
	file := p.file(f.Body, vars)
	sortDiags(p.diags)
	out.Diags = p.diags
	if p.diags.HasErrors() {
		return nil, out
	}
	if len(p.diags) == 0 {
		out = nil
	}
	return file, out
}

// fatalSyntax reports whether the parse diagnostics leave a body too
// broken to decode further. An attribute given twice is not fatal: the
// parser keeps the first and the rest of the file is sound, so decoding
// goes on and finds the other problems too.
func fatalSyntax(diags hcl.Diagnostics) bool {
	for _, d := range diags {
		if d.Severity == hcl.DiagError && d.Summary != "Attribute redefined" {
			return true
		}
	}
	return false
}

// parser holds the state of one Parse call.
type parser struct {
	reg      *xlator.Registry
	filename string
	ctx      *hcl.EvalContext
	varNames []string // the declared variables, for eval's checks
	diags    hcl.Diagnostics
}

func (p *parser) errorf(subject *hcl.Range, summary, detail string, args ...any) {
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  subject,
	})
}

func (p *parser) warnf(subject *hcl.Range, summary, detail string, args ...any) {
	p.diags = append(p.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  subject,
	})
}

// file decodes the top level: variables first, since every other
// expression may use them, then volumes, top, mount, statedump and
// metrics and memory, and
// finally checks the graph the volumes form.
func (p *parser) file(body hcl.Body, given map[string]string) *File {
	content, d := body.Content(rootSchema)
	p.diags = append(p.diags, d...)

	var varBlocks, volBlocks, mountBlocks, dumpBlocks, metricsBlocks, memoryBlocks []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			varBlocks = append(varBlocks, b)
		case "volume":
			volBlocks = append(volBlocks, b)
		case "mount":
			mountBlocks = append(mountBlocks, b)
		case "statedump":
			dumpBlocks = append(dumpBlocks, b)
		case "metrics":
			metricsBlocks = append(metricsBlocks, b)
		case "memory":
			memoryBlocks = append(memoryBlocks, b)
		}
	}

	values := p.variables(varBlocks, given)

	var vols []*volume
	for _, b := range volBlocks {
		vols = append(vols, p.volume(b))
	}

	var top *ref
	if a := content.Attributes["top"]; a != nil && !isNull(a.Expr) {
		if s, ok := p.evalString(a.Expr, `"top"`); ok {
			top = &ref{name: s, rng: a.Expr.Range()}
		}
	}
	spec := p.graph(vols, top, body.MissingItemRange())

	file := &File{Spec: spec, Vars: values}
	if b := p.single(mountBlocks); b != nil {
		file.Mount = p.mount(b)
	}
	if b := p.single(dumpBlocks); b != nil {
		file.Statedump = p.statedump(b)
	}
	if b := p.single(metricsBlocks); b != nil {
		file.Metrics = p.metrics(b)
	}
	if b := p.single(memoryBlocks); b != nil {
		file.Memory = p.memory(b)
	}
	return file
}

// isNull reports whether expr is the literal null, which for top means
// "not given", as it does for options.
func isNull(expr hcl.Expression) bool {
	v, d := expr.Value(nil)
	return !d.HasErrors() && v.IsNull()
}

// single returns the first of blocks and diagnoses any further ones: a
// volfile has one mount, one statedump and one metrics block at most.
func (p *parser) single(blocks []*hcl.Block) *hcl.Block {
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks[1:] {
		p.errorf(b.DefRange.Ptr(), fmt.Sprintf("Duplicate %s block", b.Type),
			"A volfile has at most one %s block; the first is at %s. Merge the two.",
			b.Type, posString(blocks[0].DefRange))
	}
	return blocks[0]
}

func (p *parser) mount(b *hcl.Block) *Mount {
	opts, ok := p.settings(b, mountSchema, "the mount block")
	if !ok {
		return nil
	}
	if opts.Bool("passthrough") && opts.Bool("writeback-cache") {
		p.errorf(b.DefRange.Ptr(), "Passthrough with writeback-cache",
			"The kernel either keeps a file's writes in its page cache (writeback-cache) or sends them to the brick's file (passthrough), not both: set one of them to false.")
		return nil
	}
	var allowOther *bool
	if opts.IsSet("allow-other") {
		v := opts.Bool("allow-other")
		allowOther = &v
	}
	return &Mount{
		Path:               opts.String("path"),
		EntryTimeout:       opts.Duration("entry-timeout"),
		AttrTimeout:        opts.Duration("attr-timeout"),
		NegativeTimeout:    opts.Duration("negative-timeout"),
		MaxWrite:           opts.Size("max-write"),
		ReadAhead:          opts.Size("read-ahead"),
		DefaultPermissions: opts.Bool("default-permissions"),
		AllowOther:         allowOther,
		InodeLRULimit:      opts.Int("inode-lru-limit"),
		Passthrough:        opts.Bool("passthrough"),
		WritebackCache:     opts.Bool("writeback-cache"),
		Transport:          opts.String("transport"),
		FSName:             opts.String("fsname"),
		Pos:                posString(b.DefRange),
	}
}

func (p *parser) statedump(b *hcl.Block) *Statedump {
	opts, ok := p.settings(b, statedumpSchema, "the statedump block")
	if !ok {
		return nil
	}
	return &Statedump{Path: opts.String("path"), Socket: opts.String("socket")}
}

func (p *parser) memory(b *hcl.Block) *Memory {
	opts, ok := p.settings(b, memorySchema, "the memory block")
	if !ok {
		return nil
	}
	return &Memory{Limit: opts.Size("limit"), ReapInterval: opts.Duration("reap-interval"), Pos: posString(b.DefRange)}
}

func (p *parser) metrics(b *hcl.Block) *Metrics {
	opts, ok := p.settings(b, metricsSchema, "the metrics block")
	if !ok {
		return nil
	}
	addr := opts.String("address")
	if err := checkAddress(addr); err != nil {
		rng := b.DefRange
		if sb, ok := b.Body.(*hclsyntax.Body); ok && sb.Attributes["address"] != nil {
			rng = sb.Attributes["address"].Expr.Range()
		}
		p.errorf(rng.Ptr(), "Invalid metrics address",
			"%q is not an address to listen on: %v. Write HOST:PORT, e.g. \"127.0.0.1:9464\" (\":9464\" listens on every interface).", addr, err)
		return nil
	}
	return &Metrics{Address: addr, Pos: posString(b.DefRange)}
}

// checkAddress checks a HOST:PORT to listen on, without resolving HOST.
func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err) // the rest repeats addr
		}
		return err
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("host %q is not a host name or IP address", host)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// settings decodes a mount, statedump or metrics block against its schema.
func (p *parser) settings(b *hcl.Block, schema xlator.Schema, what string) (xlator.Options, bool) {
	o := owner{what: what, schemaOf: what, block: b}
	attrs := p.attributes(b.Body, nil, what)
	opts := xlator.NewOptions()
	ok := p.options(o, schema, schema, attrs, true, &opts)
	return opts, ok
}
