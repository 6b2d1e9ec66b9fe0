package statedump_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/statedump"
)

func startAdmin(t *testing.T, d *statedump.Dumper, cfg statedump.AdminConfig) *statedump.Admin {
	t.Helper()
	if cfg.RunDir == "" {
		cfg.RunDir = t.TempDir()
	}
	if cfg.DumpDir == "" {
		cfg.DumpDir = t.TempDir()
	}
	a, err := statedump.StartAdmin(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close admin: %v", err)
		}
	})
	return a
}

func TestAdminSocketServesJSON(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: pools count nothing and no arena is mapped")
	}
	_, d := workload(t)
	runDir := t.TempDir()
	a := startAdmin(t, d, statedump.AdminConfig{RunDir: runDir, NoSignal: true})
	if a.Socket() != statedump.SocketPath(runDir, os.Getpid()) {
		t.Errorf("socket %s", a.Socket())
	}
	fi, err := os.Lstat(a.Socket())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}

	var buf bytes.Buffer
	if err := statedump.Fetch(a.Socket(), statedump.Request{Format: "json", Parts: []string{"mem", "fops", "iobuf"}}, &buf); err != nil {
		t.Fatal(err)
	}
	var dump statedump.Dump
	if err := json.Unmarshal(buf.Bytes(), &dump); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if dump.Xlator("l0").Pool("frames").AllocCount != 10 || dump.Xlator("l1").Fop("WRITE").Count != 10 ||
		dump.Iobuf.Active != 0 || dump.Callpool != nil {
		t.Errorf("dump over the socket: %+v", dump)
	}
	buf.Reset()
	if err := statedump.Fetch(a.Socket(), statedump.Request{}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "DUMP-START-TIME: ") || !strings.Contains(buf.String(), "\n[global.callpool]\n") {
		t.Errorf("text dump over the socket:\n%s", buf.String())
	}

	// Errors come back as such.
	err = statedump.Fetch(a.Socket(), statedump.Request{Parts: []string{"memory"}}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "valid parts are mem, iobuf") {
		t.Errorf("unknown part over the socket: %v", err)
	}
	err = statedump.Fetch(a.Socket(), statedump.Request{Version: statedump.ProtocolVersion + 1}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unsupported protocol version") {
		t.Errorf("future version: %v", err)
	}
	c, err := net.Dial("unix", a.Socket())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "not json\n")
	reply, _ := io.ReadAll(c)
	c.Close()
	if !strings.Contains(string(reply), `"error":"bad request`) {
		t.Errorf("bad request reply %q", reply)
	}
}

func TestAdminRegistryAndResolve(t *testing.T) {
	_, d := workload(t)
	runDir := t.TempDir()
	a := startAdmin(t, d, statedump.AdminConfig{RunDir: runDir, NoSignal: true, Volfile: "test.hcl"})
	pid := strconv.Itoa(os.Getpid())
	for _, target := range []string{"", pid, a.Socket()} {
		got, err := statedump.Resolve(target, runDir)
		if err != nil || got != a.Socket() {
			t.Errorf("Resolve(%q) = %q, %v", target, got, err)
		}
	}
	mp := t.TempDir()
	if _, err := statedump.Resolve(mp, runDir); !errors.Is(err, statedump.ErrNoStack) {
		t.Errorf("Resolve(unregistered dir): %v", err)
	}
	if err := a.SetMountPoint(mp); err != nil {
		t.Fatal(err)
	}
	if got, err := statedump.Resolve(mp+"/", runDir); err != nil || got != a.Socket() {
		t.Errorf("Resolve(mount point) = %q, %v", got, err)
	}
	list, err := statedump.ListRunning(runDir)
	if err != nil || len(list) != 1 || list[0].MountPoint != mp || list[0].Name != "l0" || list[0].Volfile != "test.hcl" {
		t.Errorf("ListRunning: %+v %v", list, err)
	}
	fi, err := os.Stat(statedump.InfoPath(runDir, os.Getpid()))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("registry file: %v %v", fi, err)
	}
	if _, err := statedump.Resolve("999999999", runDir); !errors.Is(err, statedump.ErrNoStack) {
		t.Errorf("Resolve(dead pid): %v", err)
	}

	// A second live stack makes "" ambiguous; the error lists both. A
	// registry file of a process that is gone is ignored.
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Skip("cannot start a second process:", err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	info := fmt.Sprintf(`{"version":1,"pid":%d,"name":"other","socket":"/nowhere.sock"}`, other.Process.Pid)
	os.WriteFile(statedump.InfoPath(runDir, other.Process.Pid), []byte(info), 0o600)
	os.WriteFile(statedump.InfoPath(runDir, 999999999), []byte(`{"pid":999999999,"socket":"/x"}`), 0o600)
	_, err = statedump.Resolve("", runDir)
	if err == nil || !strings.Contains(err.Error(), "2 stacks are running") || !strings.Contains(err.Error(), "pid "+pid+" (l0") ||
		!strings.Contains(err.Error(), "(other,") {
		t.Errorf("ambiguous Resolve: %v", err)
	}
	a.Close()
	if _, err := os.Stat(a.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := os.Stat(statedump.InfoPath(runDir, os.Getpid())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("registry file left after Close: %v", err)
	}
}

func TestAdminSocketOwnership(t *testing.T) {
	_, d := workload(t)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	a := startAdmin(t, d, statedump.AdminConfig{Socket: sock, NoSignal: true})
	// A live socket is not taken over.
	_, err := statedump.StartAdmin(d, statedump.AdminConfig{Socket: sock, RunDir: t.TempDir(), NoSignal: true})
	if !errors.Is(err, statedump.ErrSocketInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second admin on a live socket: %v", err)
	}
	a.Close()

	// A stale one (its process died without removing it) is replaced.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if err := statedump.Fetch(sock, statedump.Request{}, io.Discard); !errors.Is(err, statedump.ErrNoStack) {
		t.Errorf("Fetch from a stale socket: %v", err)
	}
	a2 := startAdmin(t, d, statedump.AdminConfig{Socket: sock, NoSignal: true})
	if err := statedump.Fetch(a2.Socket(), statedump.Request{Parts: []string{"fd"}}, io.Discard); err != nil {
		t.Errorf("fetch after replacing a stale socket: %v", err)
	}
	a2.Close()

	// Anything else at the path is left alone.
	os.WriteFile(sock, []byte("precious"), 0o644)
	if _, err := statedump.StartAdmin(d, statedump.AdminConfig{Socket: sock, RunDir: t.TempDir(), NoSignal: true}); err == nil ||
		!strings.Contains(err.Error(), "not a socket") {
		t.Errorf("admin over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "precious" {
		t.Errorf("regular file clobbered")
	}
}

func TestSIGUSR1WritesADumpFile(t *testing.T) {
	_, d := workload(t)
	dumpDir := t.TempDir()
	startAdmin(t, d, statedump.AdminConfig{DumpDir: dumpDir})
	// The handler is installed (StartAdmin returned): the signal cannot
	// kill the test process.
	before := time.Now().Unix()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(dumpDir)
		var names []string
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		if len(names) == 1 {
			checkDumpFile(t, filepath.Join(dumpDir, names[0]), before)
			return
		}
		if len(names) > 1 || time.Now().After(deadline) {
			t.Fatalf("dump files after SIGUSR1: %v", names)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// peerEnv switches the test binary into the client of
// TestPeerCredentialsRefuseOtherUsers.
const peerEnv = "XSTACK_STATEDUMP_TEST_PEER_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(peerEnv); sock != "" {
		err := statedump.Fetch(sock, statedump.Request{}, io.Discard)
		switch {
		case err == nil:
			fmt.Println("GOT-DUMP")
		case errors.Is(err, statedump.ErrPermission):
			fmt.Println("REFUSED:", err)
		default:
			fmt.Println("ERROR:", err)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestPeerCredentialsRefuseOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user (uid 65534)")
	}
	// A directory and a copy of the test binary that uid 65534 can reach.
	dir, err := os.MkdirTemp("", "xstack-peer-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "statedump.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	_, d := workload(t)
	sock := filepath.Join(dir, "admin.sock")
	startAdmin(t, d, statedump.AdminConfig{Socket: sock, NoSignal: true})

	client := func() string {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), peerEnv+"="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("cannot run the client as uid 65534: %v\n%s", err, out)
		}
		return string(out)
	}
	// First layer: the socket's mode keeps other users from connecting.
	if out := client(); !strings.HasPrefix(out, "REFUSED:") || !strings.Contains(out, "belongs to another user") {
		t.Errorf("client of another user with a 0600 socket: %s", out)
	}
	// Second layer: even with the socket opened up, SO_PEERCRED refuses.
	os.Chmod(sock, 0o666)
	if out := client(); !strings.HasPrefix(out, "REFUSED:") || !strings.Contains(out, "uid 65534 may not read") {
		t.Errorf("client of another user with a 0666 socket: %s", out)
	}
	// The owner still gets its dump.
	if err := statedump.Fetch(sock, statedump.Request{Parts: []string{"fd"}}, io.Discard); err != nil {
		t.Errorf("owner: %v", err)
	}
}
