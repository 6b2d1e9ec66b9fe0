package main

import (
	"path/filepath"

	"go.uber.org/zap"

	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/volfile"
)

// admin is a running stack's statedump front: the admin socket that
// `xstack dump` talks to, the registry file that maps its pid and mount
// point to that socket, and the SIGUSR1 handler that writes dump files.
type admin struct {
	a   *statedump.Admin
	log *zap.Logger
}

// startAdmin starts the statedump front of st. The volfile's statedump
// block may set the dump directory (path) and the socket (socket); the
// defaults are statedump.DefaultDir and <rundir>/xstack-<pid>.sock. It
// fails if another live process serves the socket.
func startAdmin(st *stack.Stack, f *volfile.File, name string, log *zap.Logger) (*admin, error) {
	// The registry keeps the volfile's absolute path: `xstack list` run
	// from elsewhere must still say which file it is.
	vol := st.Path
	if vol != stack.DefaultName {
		if abs, err := filepath.Abs(vol); err == nil {
			vol = abs
		}
	}
	d, err := statedump.New(statedump.Source{Graph: st.Graph, Env: st.Env, Name: name, Volfile: vol, Started: st.Started})
	if err != nil {
		return nil, err
	}
	cfg := statedump.AdminConfig{Volfile: vol, Logger: log.Named("statedump")}
	if f != nil && f.Statedump != nil {
		cfg.DumpDir = f.Statedump.Path
		cfg.Socket = f.Statedump.Socket
	}
	a, err := statedump.StartAdmin(d, cfg)
	if err != nil {
		return nil, err
	}
	return &admin{a: a, log: log}, nil
}

// Socket returns the admin socket's path.
func (a *admin) Socket() string { return a.a.Socket() }

// DumpDir returns where SIGUSR1 dumps go.
func (a *admin) DumpDir() string { return a.a.DumpDir() }

// SetMountPoint records the mount point so that `xstack dump MOUNTPOINT`
// finds this stack; a failure only costs that lookup, so it is logged.
func (a *admin) SetMountPoint(mp string) {
	if err := a.a.SetMountPoint(mp); err != nil {
		a.log.Warn("statedump: cannot record the mount point; use the pid or socket with xstack dump", zap.Error(err))
	}
}

// Close stops the SIGUSR1 handler and removes the socket and registry file.
func (a *admin) Close() error { return a.a.Close() }
