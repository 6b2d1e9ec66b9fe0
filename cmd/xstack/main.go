// Command xstack runs translator stacks described by volfiles: it mounts
// them with FUSE, works on their files without FUSE, validates and draws
// volfiles, and dumps the statistics of a running stack.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xstack/xstack/volfile"
)

const usage = `xstack — GlusterFS-style IO translator stacks in Go

Usage:
  xstack run [flags] [VOLFILE]        run a stack and its front ends (the embedded
                                      default volfile when none is given)
  xstack mount [flags] VOLFILE MOUNTPOINT
  xstack umount MOUNTPOINT
  xstack validate [-strict] [flags] VOLFILE
                                      check a volfile, running nothing it names;
                                      diagnostics on stderr (-strict: warnings fail too)
  xstack graph [-format text|dot] VOLFILE
  xstack dump [-json] [-parts mem,iobuf,…] [TARGET]
                                      statedump of a running stack; TARGET is its
                                      admin socket, pid or mount point
  xstack ls|stat|cat|rm|mkdir [flags] VOLFILE PATH…
  xstack put VOLFILE LOCALFILE PATH   copy a local file into the volume
  xstack get VOLFILE PATH LOCALFILE   copy a file out of the volume
  xstack check [flags] VOLFILE        list files whose layout differs between a
                                      stripe's children (read-only; exit 1 if any)
  xstack types [flags] [VOLFILE]      list the translator types and their options,
                                      and those the volfile's plugins publish

VOLFILE may be @default for the embedded default volfile.
Flags common to commands that load a volfile:
  -var NAME=VALUE   set a volfile variable (repeatable)
  -data DIR         shorthand for -var data=DIR
  -log-level LEVEL  debug, info, warn or error
  -adopt BRICK      accept a brick that has no identity yet into a volume
                    whose other bricks have one (see "Bricks" in README.md)
Run "xstack COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit code and a message already printed or to print.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "xstack: internal error: %v\n", r)
			code = 70
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"run": cmdRun, "mount": cmdMount, "umount": cmdUmount,
		"validate": cmdValidate, "graph": cmdGraph, "types": cmdTypes, "dump": cmdDump,
		"ls": cmdFiles, "stat": cmdFiles, "cat": cmdFiles, "rm": cmdFiles, "mkdir": cmdFiles,
		"put": cmdFiles, "get": cmdFiles, "check": cmdCheck,
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "xstack: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := f(args, stdout, stderr)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "xstack %s: %s\n", args[0], ee.msg)
		}
		return ee.code
	}
	var d *volfile.Diagnostics
	if errors.As(err, &d) {
		d.Write(stderr, false, 100)
		return 1
	}
	fmt.Fprintf(stderr, "xstack %s: %v\n", args[0], err)
	return 1
}

// common holds the flags every volfile-loading command takes.
type common struct {
	vars     varFlag
	data     string
	logLevel string
	adopt    listFlag
}

// listFlag collects a repeatable flag whose values may also be
// comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

type varFlag map[string]string

func (v varFlag) String() string { return "" }
func (v varFlag) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("-var wants NAME=VALUE, got %q", s)
	}
	v[k] = val
	return nil
}

func newFlags(name string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("xstack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if c != nil {
		c.vars = varFlag{}
		fs.Var(c.vars, "var", "set a volfile variable, NAME=VALUE (repeatable)")
		fs.StringVar(&c.data, "data", "", "data directory (sets var.data)")
		fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
		fs.Var(&c.adopt, "adopt", "let the named brick (its volume name) join the volume although it has no brick identity yet: an empty directory replacing a lost brick, or a brick restored without its .xstack directory (repeatable)")
	}
	return fs
}

// volfilePath maps @default to "" (the embedded default).
func volfilePath(arg string) string {
	if arg == "@default" {
		return ""
	}
	return arg
}

func (c *common) varsMap() map[string]string {
	m := map[string]string{}
	for k, v := range c.vars {
		m[k] = v
	}
	if c.data != "" {
		m["data"] = c.data
	}
	return m
}

func (c *common) logger(stderr io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.logLevel)
	if err != nil {
		return nil, &exitError{2, fmt.Sprintf("-log-level %q: use debug, info, warn or error", c.logLevel)}
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(stderr), lvl)
	return zap.New(core), nil
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
func zapError(err error) zap.Field    { return zap.Error(err) }
