package statedump

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// AdminConfig configures StartAdmin. The zero value uses the defaults.
type AdminConfig struct {
	// Socket is the admin socket's path; "" means SocketPath(RunDir, pid).
	Socket string
	// RunDir holds the registry file (and the default socket); "" means
	// RunDir().
	RunDir string
	// DumpDir is where SIGUSR1 writes dumps; "" means DefaultDir("").
	DumpDir string
	// Volfile is recorded in the registry file.
	Volfile string
	// Logger receives a line per dump written and per refused client.
	Logger *zap.Logger
	// NoSignal leaves SIGUSR1 alone (for embedders that use it).
	NoSignal bool
}

// Admin is a running stack's statedump front: the admin socket, the
// registry file that lets `xstack dump` find the stack by pid or mount
// point, and the SIGUSR1 handler that writes a dump file per signal.
type Admin struct {
	d       *Dumper
	srv     *Server
	runDir  string
	dumpDir string
	log     *zap.Logger

	mu   sync.Mutex
	info Info

	sigs chan os.Signal
	stop chan struct{}
	done chan struct{}
}

// StartAdmin starts the admin socket, writes the registry file and, unless
// cfg.NoSignal, handles SIGUSR1. The caller must Close it.
func StartAdmin(d *Dumper, cfg AdminConfig) (*Admin, error) {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	runDir := cfg.RunDir
	if runDir == "" {
		runDir = RunDir()
	}
	a := &Admin{d: d, runDir: runDir, dumpDir: DefaultDir(cfg.DumpDir), log: log}
	// The run directory holds private sockets and registry files: make it
	// private when it is ours to make. It matters only for the default
	// socket; a configured one lives wherever the volfile says.
	dirErr := os.MkdirAll(runDir, 0o700)
	sock := cfg.Socket
	if sock == "" {
		if dirErr != nil {
			return nil, fmt.Errorf("statedump: run directory (set statedump.socket or $%s): %w", RunDirEnv, dirErr)
		}
		sock = SocketPath(runDir, os.Getpid())
	}
	srv, err := Listen(sock, d, log)
	if err != nil {
		return nil, err
	}
	a.srv = srv
	a.info = Info{Version: ProtocolVersion, Pid: os.Getpid(), Name: d.Name(), Volfile: cfg.Volfile,
		Socket: sock, DumpDir: a.dumpDir, Started: time.Now()}
	if err := writeInfo(runDir, a.info); err != nil {
		// Without the registry file the stack is still reachable by its
		// socket path; say so rather than refuse to run.
		log.Warn("statedump: cannot write the registry file; `xstack dump PID|MOUNTPOINT` will not find this stack",
			zap.String("dir", runDir), zap.Error(err))
	}
	if !cfg.NoSignal {
		a.sigs = make(chan os.Signal, 4)
		a.stop = make(chan struct{})
		a.done = make(chan struct{})
		signal.Notify(a.sigs, syscall.SIGUSR1)
		go a.signals()
	}
	return a, nil
}

// signals writes one dump file per SIGUSR1.
func (a *Admin) signals() {
	defer close(a.done)
	for {
		select {
		case <-a.stop:
			return
		case <-a.sigs:
			path, err := a.d.WriteFile(a.dumpDir, Options{})
			if err != nil {
				a.log.Error("statedump failed", zap.Error(err))
				continue
			}
			a.log.Info("statedump written", zap.String("path", path))
		}
	}
}

// Socket returns the admin socket's path.
func (a *Admin) Socket() string { return a.srv.Path() }

// DumpDir returns the directory SIGUSR1 dumps go to.
func (a *Admin) DumpDir() string { return a.dumpDir }

// SetMountPoint records the stack's mount point in its registry file, so
// that `xstack dump MOUNTPOINT` finds it.
func (a *Admin) SetMountPoint(mp string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.info.MountPoint = mp
	if err := writeInfo(a.runDir, a.info); err != nil {
		return fmt.Errorf("statedump: registry file: %w", err)
	}
	return nil
}

// Close stops handling SIGUSR1, closes the socket and removes the
// registry file.
func (a *Admin) Close() error {
	if a.sigs != nil {
		signal.Stop(a.sigs)
		close(a.stop)
		<-a.done
		a.sigs = nil
	}
	err := a.srv.Close()
	if rerr := os.Remove(InfoPath(a.runDir, a.info.Pid)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}
