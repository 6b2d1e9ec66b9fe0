// Command xstack runs translator stacks described by volfiles: it mounts
// them with FUSE, works on their files without FUSE, validates and draws
// volfiles, and dumps the statistics of a running stack.
//
// The command line is built with cobra (root.go): every command has a
// synopsis, a description and an example, shown by `xstack help CMD` and
// `xstack CMD -h`, and the same definitions give the shell completions,
// the man pages (`xstack gen-man DIR`) and the README's command table
// (TestREADMECommands). Exit status: 0 success, 1 failure, 2 usage error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xstack/xstack/volfile"
)

func main() {
	if child := daemonChild(); child != nil {
		code := runCLI(os.Args[1:], child.cli())
		child.exit(code)
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit status and a message still to print ("" when
// it has been said already). Status 2 is a usage error.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErr is a usage error: a wrong number of arguments, an unknown flag
// or a flag value the command cannot use.
func usageErr(format string, a ...any) error {
	return &exitError{2, fmt.Sprintf(format, a...)}
}

// cli is where a command writes and, in a daemon, how it says that its
// mount is ready (daemon.go).
type cli struct {
	stdout, stderr io.Writer
	// args is the command line being run, flags normalized: a daemon's
	// parent starts its child with it.
	args []string
	// ready, if not nil, is called once a stack serves requests: the
	// daemon's parent then returns. serve calls it.
	ready func()
}

// run runs the command line args and returns the exit status: 0, 1 for a
// failure, 2 for a usage error. Each message is printed once, on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	return runCLI(args, &cli{stdout: stdout, stderr: stderr})
}

func runCLI(args []string, c *cli) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(c.stderr, "xstack: internal error: %v\n", r)
			code = 70
		}
	}()
	root, started := newRoot(c)
	c.args = normalizeArgs(root, args)
	root.SetArgs(c.args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	name := "xstack"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	var ee *exitError
	if !errors.As(err, &ee) && !*started {
		// Cobra refused the command line before the command ran: an
		// unknown command, a flag error or wrong arguments.
		ee = &exitError{2, err.Error()}
	}
	if ee != nil {
		if ee.msg != "" {
			fmt.Fprintf(c.stderr, "%s: %s\n", name, strings.TrimRight(ee.msg, "\n"))
		}
		if ee.code == 2 && ee.msg != "" {
			fmt.Fprintf(c.stderr, "Run '%s --help' for usage.\n", name)
		}
		return ee.code
	}
	var d *volfile.Diagnostics
	if errors.As(err, &d) {
		d.Write(c.stderr, false, 100)
		return 1
	}
	fmt.Fprintf(c.stderr, "%s: %v\n", name, err)
	return 1
}

// common holds the flags every volfile-loading command takes.
type common struct {
	vars     varFlag
	data     string
	logLevel string
	adopt    listFlag
}

// addFlags defines the common flags on fs; level is the default log level.
func (c *common) addFlags(fs *pflag.FlagSet, level string) {
	c.vars = varFlag{}
	fs.Var(c.vars, "var", "set the volfile variable `NAME=VALUE` (repeatable)")
	fs.StringVar(&c.data, "data", "", "the data `DIR`: shorthand for --var data=DIR")
	fs.StringVar(&c.logLevel, "log-level", level, "log `LEVEL`: debug, info, warn or error")
	fs.Var(&c.adopt, "adopt", "let `BRICK` (its volume name) join the volume although it has no brick identity yet: an empty directory replacing a lost brick, or a brick restored without its .xstack directory (repeatable)")
}

// listFlag collects a repeatable flag whose values may also be
// comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Type() string   { return "list" }
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
func (v varFlag) Type() string   { return "NAME=VALUE" }
func (v varFlag) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("--var wants NAME=VALUE, got %q", s)
	}
	v[k] = val
	return nil
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

// logger returns a logger at the --log-level that writes to w.
func (c *common) logger(w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.logLevel)
	if err != nil {
		return nil, usageErr("--log-level %q: use debug, info, warn or error", c.logLevel)
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}

func zapString(k, v string) zap.Field { return zap.String(k, v) }
func zapError(err error) zap.Field    { return zap.Error(err) }
