package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/xstack/xstack/mount/fuse"
	"github.com/xstack/xstack/statedump"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// xstackBinary builds cmd/xstack once per test run.
func xstackBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xstack-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "xstack")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/xstack")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build xstack: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// daemon is `xstack run` with the embedded default volfile, in a temporary
// working directory, as README's first command runs it.
type daemon struct {
	cmd    *exec.Cmd
	dir    string
	mnt    string
	env    []string
	out    *bytes.Buffer
	outMu  *sync.Mutex
	exited chan error
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startDaemon(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	return startXstack(t, dir, filepath.Join(dir, "_xstack", "mnt"), "run")
}

// startXstack runs the xstack command with args in dir, the daemon's
// working directory, and waits until it has mounted mnt. Its admin socket
// lives in dir/run.
func startXstack(t *testing.T, dir, mnt string, args ...string) *daemon {
	t.Helper()
	if err := fuse.Available(); err != nil {
		t.Skipf("FUSE is not available here: %v", err)
	}
	bin := xstackBinary(t)
	d := &daemon{dir: dir, mnt: mnt, out: &bytes.Buffer{}, outMu: &sync.Mutex{}, exited: make(chan error, 1)}
	d.env = append(os.Environ(), statedump.RunDirEnv+"="+filepath.Join(dir, "run"))
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Dir = dir
	d.cmd.Env = d.env
	w := lockedWriter{d.outMu, d.out}
	d.cmd.Stdout, d.cmd.Stderr = w, w
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.exited:
			case <-time.After(10 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.exited
			}
		}
		_ = syscall.Unmount(d.mnt, syscall.MNT_DETACH)
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.output(), "mounted") {
		select {
		case err := <-d.exited:
			t.Fatalf("xstack %s exited: %v\n%s", args[0], err, d.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("xstack %s did not mount:\n%s", args[0], d.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

func (d *daemon) output() string {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	return d.out.String()
}

// dump runs `xstack dump -json MOUNTPOINT` and parses the result.
func (d *daemon) dump(t *testing.T) *statedump.Dump {
	t.Helper()
	cmd := exec.Command(xstackBinary(t), "dump", "-json", d.mnt)
	cmd.Env = d.env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("xstack dump: %v\n%s", err, stderr)
	}
	var dump statedump.Dump
	if err := json.Unmarshal(out, &dump); err != nil {
		t.Fatalf("dump is not JSON: %v\n%.500s", err, out)
	}
	return &dump
}

func fopCount(d *statedump.Dump, volume, fop string) uint64 {
	x := d.Xlator(volume)
	if x == nil {
		return 0
	}
	for _, f := range x.Fops {
		if f.Fop == fop {
			return f.Count
		}
	}
	return 0
}

// cachePools are pools the cache keeps objects in by design (pages and
// per-file state): the dump shows their hot counts, which the cache's
// held-iobufs accounts for.
func byDesign(d *statedump.Dump, pool string) bool {
	x := d.Xlator("cache")
	if x == nil {
		return false
	}
	for _, p := range x.MemPools {
		if p.Name == pool {
			return true
		}
	}
	return false
}

func heldByCache(d *statedump.Dump) int64 {
	x := d.Xlator("cache")
	if x == nil {
		return 0
	}
	for _, kv := range x.Priv {
		if kv.Key == "held-iobufs" {
			if f, ok := kv.Value.(float64); ok {
				return int64(f)
			}
		}
	}
	return 0
}

// TestRunDefaultAndDump is the user's first session: `xstack run` on the
// embedded default volfile, a workload on the mount, statedumps during and
// after it through `xstack dump -json`, a SIGUSR1 dump file, and a clean
// stop on SIGINT.
func TestRunDefaultAndDump(t *testing.T) {
	d := startDaemon(t)
	before := d.dump(t)
	if before.Process.Volfile != "<embedded default>" || before.Process.Name != "default" {
		t.Fatalf("process %+v", before.Process)
	}
	// One owner per brick: a file command on the same bricks is refused,
	// naming the running stack and where to reach it.
	ls := exec.Command(xstackBinary(t), "ls", "@default", "/")
	ls.Dir, ls.Env = d.dir, d.env
	out, err := ls.CombinedOutput()
	for _, want := range []string{"is in use by xstack pid " + strconv.Itoa(d.cmd.Process.Pid), "mounted at " + d.mnt, "xstack umount"} {
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("xstack ls on a running stack's bricks: %v, output lacks %q:\n%s", err, want, out)
		}
	}
	hot := map[string]int64{}
	for _, x := range before.Xlators {
		for _, p := range x.MemPools {
			hot[p.Name] = p.Hot
		}
	}

	// A workload: write and read back files, one of them held open while
	// we dump.
	data := make([]byte, 8<<20)
	rand.Read(data)
	held, err := os.Create(filepath.Join(d.mnt, "held"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := held.Write(data[:1<<20]); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(d.mnt, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(d.mnt, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %s: %v", name, err)
		}
	}
	// Exact counts from the daemon (which raised GOMAXPROCS after its
	// graph was built): 64 O_DIRECT writes are 64 WRITE requests, each
	// one WRITE fop at the top.
	pre := d.dump(t)
	df, err := os.OpenFile(filepath.Join(d.mnt, "direct"), os.O_CREATE|os.O_WRONLY|syscall.O_DIRECT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	block := alignedBlock(4096)
	for i := range 64 {
		if _, err := df.WriteAt(block, int64(i)*4096); err != nil {
			t.Fatal(err)
		}
	}
	df.Close()
	post := d.dump(t)
	if got := fopCount(post, "cache", "WRITE") - fopCount(pre, "cache", "WRITE"); got != 64 {
		t.Errorf("64 O_DIRECT writes counted as %d WRITEs at the top", got)
	}
	during := d.dump(t)
	// The bricks' bio paths show in the dump, labelled, with the IO done.
	for _, brick := range []string{"brick0", "brick1"} {
		sec := during.Section("bio." + brick)
		if sec == nil {
			t.Errorf("no bio.%s section in the dump", brick)
			continue
		}
		kv := map[string]any{}
		for _, e := range sec.KVs {
			kv[e.Key] = e.Value
		}
		if w, _ := kv["brick.submitted.write"].(float64); w == 0 {
			t.Errorf("bio.%s: no write bios counted: %v", brick, kv)
		}
	}
	// Every fop counted has its latencies: min > 0, max >= mean >= min.
	for _, x := range during.Xlators {
		for _, f := range x.Fops {
			if f.Count > 0 && (f.MinNs <= 0 || f.MaxNs < f.MeanNs || f.MeanNs < f.MinNs) {
				t.Errorf("%s %s: count %d, latency min %d mean %d max %d ns", x.Name, f.Fop, f.Count, f.MinNs, f.MeanNs, f.MaxNs)
			}
		}
	}
	if fopCount(during, "cache", "WRITE") == 0 || fopCount(during, "brick0", "WRITE") == 0 || fopCount(during, "brick1", "WRITE") == 0 {
		t.Fatalf("write counts did not move: cache %d brick0 %d brick1 %d", fopCount(during, "cache", "WRITE"),
			fopCount(during, "brick0", "WRITE"), fopCount(during, "brick1", "WRITE"))
	}
	if during.FDTable == nil || during.FDTable.Open < 1 {
		t.Fatalf("the held file is not in the fd table: %+v", during.FDTable)
	}
	moved := false
	for _, x := range during.Xlators {
		for _, p := range x.MemPools {
			if p.AllocCount > 0 && x.Name != "" {
				moved = true
			}
		}
	}
	if !moved {
		t.Fatal("no per-xlator mem-pool moved during the workload")
	}
	held.Close()

	// After every file is closed: nothing active beyond what the cache
	// holds by design. RELEASE is asynchronous, so allow it a moment.
	var after *statedump.Dump
	for i := 0; i < 50; i++ {
		after = d.dump(t)
		if after.FDTable != nil && after.FDTable.Open == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after.FDTable.Open != 0 {
		t.Errorf("fds open after close: %+v", after.FDTable)
	}
	if after.Iobuf == nil {
		t.Fatal("no iobuf section")
	}
	if held := heldByCache(after); after.Iobuf.Active != held {
		t.Errorf("iobufs active %d, the cache holds %d by design", after.Iobuf.Active, held)
	}
	// The mount's own section: its requests and, for root, xstack's loop
	// with one worker reading now that nothing is in flight.
	fuseKVs := map[string]any{}
	for _, sec := range after.Sections {
		if sec.Name == "xlator.mount.fuse.priv" {
			for _, kv := range sec.KVs {
				fuseKVs[kv.Key] = kv.Value
			}
		}
	}
	if n, _ := fuseKVs["op.WRITE"].(float64); n == 0 {
		t.Errorf("no WRITE counted in [xlator.mount.fuse.priv]: %v", fuseKVs)
	}
	if os.Geteuid() == 0 {
		if fuseKVs["loop"] != "xstack" {
			t.Errorf("a root mount is served by loop %v, want xstack's", fuseKVs["loop"])
		}
		if r, _ := fuseKVs["loop.reading"].(float64); r < 1 {
			t.Errorf("no worker reading /dev/fuse when idle: %v", fuseKVs)
		}
	}
	if after.Callpool != nil && after.Callpool.Count != 0 {
		t.Errorf("calls in flight when idle: %+v", after.Callpool.Stacks)
	}
	for _, x := range after.Xlators {
		for _, p := range x.MemPools {
			if p.Hot != hot[p.Name] && !byDesign(after, p.Name) {
				t.Errorf("pool %s: hot-count %d, %d before the workload", p.Name, p.Hot, hot[p.Name])
			}
		}
	}

	// SIGUSR1 writes a dump file named as GlusterFS names them.
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	dumpDir := filepath.Join(d.dir, "_xstack", "data", "dumps")
	var files []string
	for i := 0; i < 50 && len(files) == 0; i++ {
		time.Sleep(100 * time.Millisecond)
		files, _ = filepath.Glob(filepath.Join(dumpDir, "default.*.dump.*"))
	}
	if len(files) != 1 {
		t.Fatalf("dump files %v in %s\n%s", files, dumpDir, d.output())
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dump file %v %v", fi, err)
	}
	f, _ := os.Open(files[0])
	first, _ := bufio.NewReader(f).ReadString('\n')
	rest, _ := io.ReadAll(f)
	f.Close()
	if !strings.HasPrefix(first, "DUMP-START-TIME:") || !bytes.Contains(rest, []byte("DUMP-END-TIME:")) {
		t.Fatalf("dump file is not a statedump: %q", first)
	}

	// SIGINT unmounts and exits cleanly.
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("xstack run exited with %v\n%s", err, d.output())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("xstack run did not exit on SIGINT\n%s", d.output())
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mounts, []byte(d.mnt)) {
		t.Fatal("still mounted after SIGINT")
	}
}

// TestCLIFileCommands uses the file commands on the same default volfile,
// without FUSE.
func TestCLIFileCommands(t *testing.T) {
	bin := xstackBinary(t)
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("xstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	local := filepath.Join(dir, "local.bin")
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// File commands never create bricks: on a fresh directory (or with a
	// mistyped -data) they fail, name the brick, and leave nothing behind.
	cmd := exec.Command(bin, "ls", "@default", "/")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "_xstack/data/brick0 does not exist") {
		t.Fatalf("ls on missing bricks: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "_xstack", "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ls created the data directory: %v", err)
	}
	for _, b := range []string{"brick0", "brick1"} {
		if err := os.MkdirAll(filepath.Join(dir, "_xstack", "data", b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run("mkdir", "-p", "@default", "/x/y")
	run("put", "@default", local, "/x/y/file.bin")
	if out := run("ls", "@default", "/x/y"); strings.TrimSpace(out) != "file.bin" {
		t.Fatalf("ls: %q", out)
	}
	if out := run("stat", "@default", "/x/y/file.bin"); !strings.Contains(out, "Size: 3145745") {
		t.Fatalf("stat: %s", out)
	}
	back := filepath.Join(dir, "back.bin")
	run("get", "@default", "/x/y/file.bin", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Fatal("get returned different bytes")
	}
	if out := run("cat", "@default", "/x/y/file.bin"); out != string(data) {
		t.Fatal("cat returned different bytes")
	}
	if out := run("check", "@default"); out != "brick0: gfid store: 3 directories, 1 files, 4 entries checked: 0 problems\n"+
		"brick1: gfid store: 3 directories, 1 files, 4 entries checked: 0 problems\n"+
		"stripe: 3 directories, 1 files, 0 others checked: 0 problems\n" {
		t.Fatalf("check of the volume the file commands wrote: %q", out)
	}
	run("rm", "-r", "@default", "/x")
	if out := run("ls", "@default", "/"); strings.TrimSpace(out) != "" {
		t.Fatalf("ls after rm: %q", out)
	}
	if out := run("graph", "@default"); !strings.Contains(out, "cache") || !strings.Contains(out, "brick1") {
		t.Fatalf("graph: %s", out)
	}
	if out := run("graph", "-format", "dot", "@default"); !strings.Contains(out, "digraph") || !strings.Contains(out, "->") {
		t.Fatalf("graph dot: %s", out)
	}
	if out := run("types"); !strings.Contains(out, "block-size") || !strings.Contains(out, "cache-size") {
		t.Fatalf("types: %s", out)
	}
	// Bad input: clear errors, non-zero exits.
	cmd = exec.Command(bin, "cat", "@default", "/nope")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no such file") {
		t.Fatalf("cat of a missing file: %v %s", err, out)
	}
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte("volume \"x\" {\n  type = \"posix\"\n  directroy = \"/tmp/x\"\n}\n"), 0o644)
	cmd = exec.Command(bin, "validate", bad)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.hcl:3:3") || !strings.Contains(string(out), "directory") {
		t.Fatalf("validate of a bad volfile: %v\n%s", err, out)
	}
}

// alignedBlock returns n bytes aligned for O_DIRECT.
func alignedBlock(n int) []byte {
	b := make([]byte, n+4096)
	off := 4096 - int(uintptr(unsafe.Pointer(&b[0]))%4096)
	return b[off%4096 : off%4096+n]
}
