package statedump

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// RunDirEnv overrides the run directory (for tests and unusual setups).
const RunDirEnv = "XSTACK_RUN_DIR"

// RunDir returns the directory where running stacks keep their admin
// sockets and registry files: $XSTACK_RUN_DIR if set, else /run/xstack for
// root, else $XDG_RUNTIME_DIR, else os.TempDir(). A client and a server of
// the same user agree on it.
func RunDir() string {
	if d := os.Getenv(RunDirEnv); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/run/xstack"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d
	}
	return os.TempDir()
}

// SocketPath returns the admin socket of process pid in runDir, where a
// stack puts it unless its volfile names another: <runDir>/xstack-<pid>.sock.
func SocketPath(runDir string, pid int) string {
	return filepath.Join(runDir, "xstack-"+strconv.Itoa(pid)+".sock")
}

// InfoPath returns the registry file of process pid in runDir:
// <runDir>/xstack-<pid>.json, holding an Info.
func InfoPath(runDir string, pid int) string {
	return filepath.Join(runDir, "xstack-"+strconv.Itoa(pid)+".json")
}

// Info describes a running stack in its registry file, so that
// `xstack dump` can find a stack by pid or mount point.
type Info struct {
	Version    int       `json:"version"`
	Pid        int       `json:"pid"`
	Name       string    `json:"name"`
	Volfile    string    `json:"volfile,omitempty"`
	Socket     string    `json:"socket"`
	DumpDir    string    `json:"dump_dir"`
	MountPoint string    `json:"mount_point,omitempty"`
	Started    time.Time `json:"started"`
}

func (i Info) String() string {
	s := fmt.Sprintf("pid %d (%s", i.Pid, i.Name)
	if i.MountPoint != "" {
		s += ", mounted at " + i.MountPoint
	}
	return s + ", socket " + i.Socket + ")"
}

// writeInfo writes info to its registry file atomically, mode 0600.
func writeInfo(runDir string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	path := InfoPath(runDir, info.Pid)
	f, err := os.CreateTemp(runDir, ".xstack-info-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func readInfo(path string) (Info, error) {
	var info Info
	b, err := os.ReadFile(path)
	if err != nil {
		return info, err
	}
	err = json.Unmarshal(b, &info)
	return info, err
}

// alive reports whether process pid exists (it may belong to another user).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// ListRunning returns the live stacks registered in runDir, by pid: those
// with a registry file, and those with only a socket at the default path.
// Entries of dead processes are ignored.
func ListRunning(runDir string) ([]Info, error) {
	ents, err := os.ReadDir(runDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	byPid := map[int]Info{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "xstack-") {
			continue
		}
		rest := strings.TrimPrefix(name, "xstack-")
		var ext string
		switch {
		case strings.HasSuffix(rest, ".json"):
			ext = ".json"
		case strings.HasSuffix(rest, ".sock"):
			ext = ".sock"
		default:
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSuffix(rest, ext))
		if err != nil || !alive(pid) {
			continue
		}
		if ext == ".json" {
			info, err := readInfo(filepath.Join(runDir, name))
			if err != nil || info.Pid != pid {
				continue
			}
			byPid[pid] = info
		} else if _, ok := byPid[pid]; !ok {
			byPid[pid] = Info{Pid: pid, Name: "?", Socket: filepath.Join(runDir, name)}
		}
	}
	out := make([]Info, 0, len(byPid))
	for _, i := range byPid {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Pid < out[b].Pid })
	return out, nil
}

// ErrNoStack is returned (wrapped, with what was looked for) when Resolve
// finds no running stack for its target.
var ErrNoStack = errors.New("statedump: no running xstack found")

// Resolve maps the target of `xstack dump` to an admin socket path:
//
//   - "" is the only stack running in runDir (an error lists them if there
//     are several);
//   - a number is a pid: its registry file's socket, else the default
//     socket path of that pid;
//   - a socket file is itself;
//   - a directory is a mount point, found in the registry files.
func Resolve(target, runDir string) (string, error) {
	if target == "" {
		list, err := ListRunning(runDir)
		if err != nil {
			return "", err
		}
		switch len(list) {
		case 0:
			return "", fmt.Errorf("%w in %s; give its admin socket, pid or mount point (or set $%s)", ErrNoStack, runDir, RunDirEnv)
		case 1:
			return list[0].Socket, nil
		}
		var b strings.Builder
		for _, i := range list {
			b.WriteString("\n  " + i.String())
		}
		return "", fmt.Errorf("%d stacks are running; name one by socket, pid or mount point:%s", len(list), b.String())
	}
	if pid, err := strconv.Atoi(target); err == nil {
		if info, err := readInfo(InfoPath(runDir, pid)); err == nil && info.Socket != "" {
			return info.Socket, nil
		}
		sock := SocketPath(runDir, pid)
		if _, err := os.Stat(sock); err != nil {
			what := "is not running"
			if alive(pid) {
				what = "has no admin socket in " + runDir + " (is it an xstack of another user, or started with another $" + RunDirEnv + "?)"
			}
			return "", fmt.Errorf("%w: pid %d %s", ErrNoStack, pid, what)
		}
		return sock, nil
	}
	// Mount points first, from the registry: a stat of a mount whose
	// file system is stuck would hang, and a stuck stack is when a dump
	// is wanted most.
	want := canonical(target)
	list, err := ListRunning(runDir)
	if err != nil {
		return "", err
	}
	for _, i := range list {
		if i.MountPoint != "" && canonical(i.MountPoint) == want {
			return i.Socket, nil
		}
	}
	fi, err := os.Lstat(target)
	if err != nil {
		return "", fmt.Errorf("%w: %s is neither a pid, an admin socket nor a mount point: %v", ErrNoStack, target, err)
	}
	if fi.Mode()&os.ModeSocket != 0 {
		return target, nil
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%w with mount point %s in %s", ErrNoStack, target, runDir)
	}
	return "", fmt.Errorf("%w: %s is neither a pid, an admin socket nor a mount point", ErrNoStack, target)
}

// canonical cleans a path for comparison without touching the mount
// itself beyond its parent (a hung mount must not hang the client).
func canonical(p string) string {
	p, _ = filepath.Abs(p)
	dir, base := filepath.Split(p)
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	return filepath.Join(dir, base)
}
