// Package stack turns a volfile into a running graph with its runtime: it
// loads and validates the volfile, makes the shared runtime (mem-pool
// registry, iobuf pool, slab caches), builds, initialises and starts the
// graph, and tears all of it down again. The CLI, the Go client API and the
// tests all start stacks this way.
package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/xstack/xstack/metrics"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/reclaim"
	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/volfile"
	"github.com/xstack/xstack/volfiles"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlators/builtin"
	"github.com/xstack/xstack/xlators/posix"
)

// Options tune how a stack starts. The zero value is usable.
type Options struct {
	// Vars set the volfile's variables (var.NAME).
	Vars map[string]string
	// Logger is the parent of every translator's logger (nop if nil).
	Logger *zap.Logger
	// Registry holds the translator types (the built-in ones if nil).
	Registry *xlator.Registry
	// StartTimeout bounds the wait for the graph to come up (10s if 0).
	StartTimeout time.Duration
	// ReadOnly starts the stack without changing its storage (see
	// xlator.Env.ReadOnly): fops that would change a brick fail with EROFS.
	ReadOnly bool
	// NoCreate refuses to create missing brick directories, whatever the
	// volfile's create-directory says (see xlator.Env.NoCreate).
	NoCreate bool
	// Adopt names bricks (volume names) that may join the volume although
	// they carry no brick identity yet: a new empty directory that
	// replaces a lost brick, or a brick restored without its private
	// directory. See xlator.Graph.CheckBricks.
	Adopt []string
	// MetricsAddr, when set, serves the stack's Prometheus metrics on
	// HOST:PORT (package metrics) from the start of the graph to Close.
	// A daemon sets it with MetricsAddr(file, flag); Start never reads the
	// volfile's metrics block itself, so the file commands and the Go API
	// open no port unless asked.
	MetricsAddr string
	// MemoryLimit, when positive, overrides the volfile's memory limit
	// (memory block, limit): see Stack.Reclaimer.
	MemoryLimit int64
}

// MetricsAddr returns where a daemon serves its metrics: flag (the
// command line's --metrics-addr) when set, else the volfile's metrics
// block's address, else "" (no metrics endpoint).
func MetricsAddr(f *volfile.File, flag string) string {
	if flag != "" {
		return flag
	}
	if f != nil && f.Metrics != nil {
		return f.Metrics.Address
	}
	return ""
}

// Stack is a running graph and the runtime it owns.
type Stack struct {
	File    *volfile.File
	Graph   *xlator.Graph
	Env     *xlator.Env
	Path    string // the volfile's path, or "<embedded default>"
	Started time.Time
	// Metrics serves the metrics when Options.MetricsAddr was set, else
	// nil; Metrics.URL says where.
	Metrics *metrics.Server
	// Reclaimer shrinks the slab caches, the iobuf arenas and the
	// mem-pools when the process nears its memory limit (the volfile's
	// memory block, Options.MemoryLimit, or GOMEMLIMIT), and on demand.
	// The statedump's mem.reclaim section shows what it and the slab reaper
	// gave back.
	Reclaimer *reclaim.Reclaimer
}

// DefaultName is the Path of a stack started from the embedded volfile.
const DefaultName = "<embedded default>"

// Load loads and validates a volfile; path "" means the embedded
// default. It returns the diagnostics as volfile.Parse does: on error the
// File is nil, on success the diagnostics are nil or hold only warnings
// (an unused volume, a plugin volume whose options wait for the start),
// for commands that show them.
func Load(path string, opts Options) (*volfile.File, *volfile.Diagnostics) {
	reg := opts.Registry
	if reg == nil {
		reg = builtin.Registry()
	}
	if path == "" {
		return volfile.Parse(volfiles.Default(), "default.hcl", reg, opts.Vars)
	}
	return volfile.Load(path, reg, opts.Vars)
}

// LoadFile loads and validates a volfile; path "" means the embedded
// default. The error, when there is one, is a *volfile.Diagnostics
// carrying every problem with its file:line:col. Warnings go to
// opts.Logger, when set, one line each with its position.
func LoadFile(path string, opts Options) (*volfile.File, error) {
	f, diags := Load(path, opts)
	if err := diags.Err(); err != nil {
		return nil, err
	}
	if opts.Logger != nil && diags != nil {
		for _, d := range diags.Diags {
			fields := []zap.Field{zap.String("detail", d.Detail)}
			if s := d.Subject; s != nil {
				fields = append(fields, zap.String("at", fmt.Sprintf("%s:%d:%d", s.Filename, s.Start.Line, s.Start.Column)))
			}
			opts.Logger.Warn(d.Summary, fields...)
		}
	}
	return f, nil
}

// Open loads the volfile at path ("" for the embedded default) and starts
// its graph. The caller must Close the stack.
func Open(path string, opts Options) (*Stack, error) {
	f, err := LoadFile(path, opts)
	if err != nil {
		return nil, err
	}
	name := path
	if name == "" {
		name = DefaultName
	}
	return Start(f, name, opts)
}

// Start builds and starts the graph of a loaded volfile.
func Start(f *volfile.File, name string, opts Options) (*Stack, error) {
	reg := opts.Registry
	if reg == nil {
		reg = builtin.Registry()
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	pools := mempool.NewRegistry(log.Named("mempool"))
	pool, err := iobuf.New(iobuf.Config{Shared: reg.NeedsSharedIobufs(f.Spec), Pools: pools})
	if err != nil {
		return nil, fmt.Errorf("iobuf pool: %w", err)
	}
	env := &xlator.Env{Logger: log, Pools: pools, Iobufs: pool, Slabs: slab.NewRegistry(),
		ReadOnly: opts.ReadOnly, NoCreate: opts.NoCreate}
	env.Pools.StartSweeper(30*time.Second, 30*time.Second)
	pool.Start()
	s := &Stack{File: f, Env: env, Path: name}
	if err := s.startReclaim(opts, log); err != nil {
		s.closeRuntime()
		return nil, err
	}
	g, err := xlator.New(f.Spec, reg, env)
	if err != nil {
		s.closeRuntime()
		return nil, err
	}
	if err := g.Init(); err != nil {
		s.closeRuntime()
		return nil, describeOwner(err)
	}
	if err := g.CheckBricks(opts.Adopt); err != nil {
		g.Stop()
		s.closeRuntime()
		return nil, err
	}
	s.Graph = g
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		g.Stop()
		s.closeRuntime()
		return nil, err
	}
	s.Started = time.Now()
	if opts.MetricsAddr != "" {
		d, err := statedump.New(statedump.Source{Graph: g, Env: env, Volfile: name, Started: s.Started})
		if err == nil {
			s.Metrics, err = metrics.Listen(opts.MetricsAddr, d, log.Named("metrics"))
		}
		if err != nil {
			g.Stop()
			s.closeRuntime()
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) closeRuntime() error {
	if s.Reclaimer != nil {
		s.Reclaimer.Stop()
	}
	s.Env.Slabs.StopReaper()
	s.Env.Pools.Stop()
	s.Env.Iobufs.Stop()
	return s.Env.Iobufs.Close()
}

// Close stops the graph and releases the runtime. Iobufs still referenced
// by the caller make the pool's Close report an error; the rest is freed.
func (s *Stack) Close() error {
	if s.Metrics != nil {
		s.Metrics.Close()
	}
	if s.Graph != nil {
		s.Graph.Stop()
	}
	// A pool that is still busy means something leaked an iobuf: say so.
	return s.closeRuntime()
}

// describeOwner completes a brick's BusyError with what the registry of
// running stacks knows about its owner: where it is mounted.
func describeOwner(err error) error {
	var be *posix.BusyError
	if !errors.As(err, &be) || be.Pid <= 0 {
		return err
	}
	running, _ := statedump.ListRunning(statedump.RunDir())
	for _, info := range running {
		if info.Pid == be.Pid && info.MountPoint != "" {
			return &ownerError{err, "it is mounted at " + info.MountPoint + ": use the files there, or `xstack umount " + info.MountPoint + "` to stop it"}
		}
	}
	return err
}

// ownerError adds to an error what is known about a brick's owner.
type ownerError struct {
	err   error
	where string
}

func (e *ownerError) Error() string { return e.err.Error() + "; " + e.where }
func (e *ownerError) Unwrap() error { return e.err }
