package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/mount/fuse"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfile"
)

func cmdRun(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("run", stderr, &c)
	mountDir := fs.String("mount", "", "mount point (sets var.mount)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &exitError{2, "run takes at most one VOLFILE"}
	}
	path := ""
	if fs.NArg() == 1 {
		path = volfilePath(fs.Arg(0))
	}
	vars := c.varsMap()
	if *mountDir != "" {
		vars["mount"] = *mountDir
	}
	return serve(path, vars, "", true, &c, stdout, stderr)
}

func cmdMount(args []string, stdout, stderr io.Writer) error {
	var c common
	fs := newFlags("mount", stderr, &c)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return &exitError{2, "usage: xstack mount [flags] VOLFILE MOUNTPOINT"}
	}
	return serve(volfilePath(fs.Arg(0)), c.varsMap(), fs.Arg(1), false, &c, stdout, stderr)
}

func cmdUmount(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("umount", stderr, nil)
	lazy := fs.Bool("l", false, "lazy unmount: detach now, clean up when no longer busy")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{2, "usage: xstack umount [-l] MOUNTPOINT"}
	}
	flags := 0
	if *lazy {
		flags = unix.MNT_DETACH
	}
	mp := fs.Arg(0)
	if err := unix.Unmount(mp, flags); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%s is busy (a process has files open or its cwd there); close them or use -l", mp)
		}
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%s is not a mount point", mp)
		}
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	fmt.Fprintf(stdout, "unmounted %s\n", mp)
	return nil
}

// serve runs a stack until SIGINT or SIGTERM, mounting it if the volfile
// has a mount block or mountPoint is given.
func serve(path string, vars map[string]string, mountPoint string, createMount bool, c *common, stdout, stderr io.Writer) error {
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	// Modes are exactly what callers ask for: the fops carry the caller's
	// umask, so the daemon must not apply its own a second time.
	unix.Umask(0)
	f, err := stack.LoadFile(path, stack.Options{Vars: vars, Logger: log})
	if err != nil {
		return err
	}
	if mountPoint == "" && f.Mount != nil {
		mountPoint = f.Mount.Path
	}
	if mountPoint != "" {
		if err := fuse.Available(); err != nil {
			return &exitError{1, fmt.Sprintf("cannot mount: %v\n"+
				"Without FUSE, use the file commands on the same volfile, e.g.\n"+
				"  xstack ls %[2]s /\n  xstack put %[2]s LOCALFILE /PATH\n  xstack cat %[2]s /PATH", err, volArg(path))}
		}
		abs, err := filepath.Abs(mountPoint)
		if err != nil {
			return err
		}
		mountPoint = abs
		if createMount {
			// run makes the volfile's mount point on first use (the default
			// volfile's lives under the current directory); mount, like
			// mount(8), wants an existing directory.
			if err := os.MkdirAll(mountPoint, 0o755); err != nil {
				return err
			}
		}
	}
	name := path
	if name == "" {
		name = stack.DefaultName
	}
	st, err := stack.Start(f, name, stack.Options{Vars: vars, Logger: log, Adopt: c.adopt})
	if err != nil {
		return err
	}
	defer st.Close()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	admin, err := startAdmin(st, f, log)
	if err != nil {
		return err
	}
	defer admin.Close()

	if mountPoint == "" {
		fmt.Fprintf(stdout, "xstack: running %s (pid %d) without a mount; statedump: xstack dump %s\n",
			name, os.Getpid(), admin.Socket())
		<-sigs
		return nil
	}
	fuse.SpareProcs()
	cfg := fuse.DefaultConfig(mountPoint)
	cfg.Logger = log
	applyMount(&cfg, f.Mount)
	srv, err := fuse.Mount(st.Graph, cfg)
	if err != nil {
		return err
	}
	admin.SetMountPoint(mountPoint)
	fmt.Fprintf(stdout, "xstack: mounted %s at %s (pid %d)\n", name, mountPoint, os.Getpid())
	fmt.Fprintf(stdout, "  statistics: xstack dump %s   (or kill -USR1 %d; dumps go to %s)\n", mountPoint, os.Getpid(), admin.DumpDir())
	fmt.Fprintf(stdout, "  stop:       Ctrl-C, or xstack umount %s\n", mountPoint)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case s := <-sigs:
		log.Info("signal received, unmounting", zapString("signal", s.String()))
		if err := srv.Unmount(); err != nil {
			log.Warn("unmount failed; retrying lazily", zapError(err))
			_ = unix.Unmount(mountPoint, unix.MNT_DETACH)
		}
		<-done
	case <-done:
		log.Info("unmounted", zapString("mountpoint", mountPoint))
	}
	return nil
}

func volArg(path string) string {
	if path == "" {
		return "@default"
	}
	return path
}

func applyMount(cfg *fuse.Config, m *volfile.Mount) {
	if m == nil {
		return
	}
	cfg.EntryTimeout = m.EntryTimeout
	cfg.AttrTimeout = m.AttrTimeout
	cfg.NegativeTimeout = m.NegativeTimeout
	cfg.MaxWrite = int(m.MaxWrite)
	cfg.ReadAhead = int(m.ReadAhead)
	cfg.DefaultPermissions = m.DefaultPermissions
	cfg.AllowOther = m.AllowOther
	cfg.InodeLRULimit = int(m.InodeLRULimit)
	cfg.FSName = m.FSName
}
