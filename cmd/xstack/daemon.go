package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
)

// A daemon (`xstack run --daemon`, `xstack mount --daemon`) is this
// program started again with the same command line, in a session of its
// own (setsid: no controlling terminal, so no SIGHUP when the terminal
// closes), stdin on /dev/null, stdout and stderr on the --log-file or
// /dev/null. The parent hands the child the write end of a pipe as fd 3
// and names it in daemonFDEnv. Until it is ready the child keeps what it
// prints; then it sends one readyReport over the pipe and closes it:
// either "ready" with what it printed (the mount banner), or the exit
// status and messages of a start that failed. The parent prints them and
// exits with that status, so `xstack mount --daemon` reads like a mount
// in the foreground that returned. A child that dies without a report
// (killed, crashed) closes the pipe by dying; the parent then reports how
// it ended.

// daemonFDEnv names, in a daemon's child, the file descriptor of the
// pipe to its parent.
const daemonFDEnv = "XSTACK_DAEMON_FD"

// readyReport is what a daemon's child sends its parent, once.
type readyReport struct {
	Ready  bool   `json:"ready"`  // the stack serves; Code is 0
	Code   int    `json:"code"`   // exit status of a failed start
	Stdout string `json:"stdout"` // what the child printed until then
	Stderr string `json:"stderr"`
}

// daemonize starts the daemon's child and waits for its report.
func daemonize(c *cli, logFile string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--daemon: cannot find this program to start it again: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("--daemon: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, c.args...)
	cmd.Env = append(os.Environ(), daemonFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	where := "no log: use --log-file"
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			w.Close()
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		where = "its log: " + logFile
	}
	err = cmd.Start()
	w.Close() // the child holds the write end now: EOF when it dies
	if err != nil {
		return fmt.Errorf("--daemon: %w", err)
	}
	var rep readyReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		werr := cmd.Wait()
		return fmt.Errorf("the daemon (pid %d) ended before it was ready: %v (%s)", cmd.Process.Pid, exitStatus(werr), where)
	}
	io.WriteString(c.stdout, rep.Stdout)
	io.WriteString(c.stderr, rep.Stderr)
	if rep.Ready {
		return cmd.Process.Release()
	}
	_ = cmd.Wait()
	return &exitError{code: rep.Code}
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// daemonParent is a daemon's child's side of the pipe: it keeps what the
// child prints until it reports.
type daemonParent struct {
	mu       sync.Mutex
	pipe     *os.File // nil once reported
	out, err bytes.Buffer
}

// daemonChild returns the parent's pipe when this process is a daemon's
// child, else nil.
func daemonChild() *daemonParent {
	v, ok := os.LookupEnv(daemonFDEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(daemonFDEnv) // not for the plugins it starts
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	return &daemonParent{pipe: os.NewFile(uintptr(fd), "daemon-parent")}
}

// cli returns where the child's commands write: kept for the report until
// then, the log (the child's own stdout and stderr) always.
func (p *daemonParent) cli() *cli {
	return &cli{
		stdout: keepWriter{p, &p.out, os.Stdout},
		stderr: keepWriter{p, &p.err, os.Stderr},
		ready:  func() { p.report(readyReport{Ready: true}) },
	}
}

// exit reports a start that failed with status code, unless the child
// reported ready before.
func (p *daemonParent) exit(code int) {
	if code == 0 {
		code = 1 // it ended without serving: not a success for the parent
	}
	p.report(readyReport{Code: code})
}

func (p *daemonParent) report(rep readyReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pipe == nil {
		return
	}
	rep.Stdout, rep.Stderr = p.out.String(), p.err.String()
	_ = json.NewEncoder(p.pipe).Encode(rep) // a parent gone cannot be told
	p.pipe.Close()
	p.pipe = nil
}

// keepWriter writes to w and, until the report, keeps a copy in buf.
type keepWriter struct {
	p   *daemonParent
	buf *bytes.Buffer
	w   io.Writer
}

func (k keepWriter) Write(b []byte) (int, error) {
	k.p.mu.Lock()
	if k.p.pipe != nil {
		k.buf.Write(b)
	}
	k.p.mu.Unlock()
	return k.w.Write(b)
}
