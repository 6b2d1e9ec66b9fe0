package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/mount/fuse"
	"github.com/xstack/xstack/stack"
	"github.com/xstack/xstack/volfile"
)

// serveFlags are the flags of the commands that run a stack.
type serveFlags struct {
	daemon      bool
	logFile     string
	metricsAddr string
}

func (s *serveFlags) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&s.daemon, "daemon", false, "run in the background: return once the mount is ready, or say why it failed (the daemon ignores SIGHUP)")
	fs.StringVar(&s.logFile, "log-file", "", "append the log to `FILE` instead of stderr (a daemon without one logs nowhere)")
	fs.StringVar(&s.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://`HOST:PORT`/metrics (overrides the volfile's metrics block)")
}

func runCmd(c *cli) *cobra.Command {
	var (
		co       common
		sf       serveFlags
		mountDir string
	)
	cmd := &cobra.Command{
		Use:   "run [flags] [VOLFILE]",
		Short: "Run a stack and mount it where its mount block says",
		Long: `Run the stack VOLFILE describes (the embedded default volfile when none
is given) until Ctrl-C, SIGTERM, SIGHUP or "xstack umount", mounted where
the volfile's mount block says; a volfile without one runs without a
mount, for its admin socket and plugins.

run creates the mount point if it is missing. The default volfile mounts
at ./_xstack/mnt and keeps its bricks under ./_xstack/data: names the go
tool skips, so running it in a Go module leaves "go vet ./..." working.

With --daemon, run returns once the mount is ready (exit 0) or prints why
it failed; the daemon runs in a session of its own, ignores SIGHUP, and
logs to --log-file. As root the mount is open to every user, with the
kernel checking permissions, unless the mount block says allow-other =
false.`,
		Example: `  xstack run
  xstack run --daemon --log-file /tmp/xstack.log
  xstack run --data /srv/xstack --mount /mnt/xstack
  xstack run volfiles/stripe.hcl -var data=/srv/xstack`,
		Args: nargs(0, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = volfilePath(args[0])
			}
			vars := co.varsMap()
			if mountDir != "" {
				vars["mount"] = mountDir
			}
			return serve(c, path, vars, "", true, &co, &sf)
		},
	}
	co.addFlags(cmd.Flags(), "info")
	cmd.Flags().StringVar(&mountDir, "mount", "", "mount point `DIR` (sets var.mount)")
	sf.addFlags(cmd.Flags())
	return cmd
}

func mountCmd(c *cli) *cobra.Command {
	var (
		co common
		sf serveFlags
	)
	cmd := &cobra.Command{
		Use:   "mount [flags] VOLFILE MOUNTPOINT",
		Short: "Run a stack and mount it at MOUNTPOINT",
		Long: `Run the stack VOLFILE describes and mount it at MOUNTPOINT, an existing
empty directory, until Ctrl-C, SIGTERM, SIGHUP or "xstack umount". The
volfile's mount block, if any, sets the mount's options; its path is not
used.

With --daemon, mount returns once the mount is ready (exit 0) or prints
why it failed; the daemon runs in a session of its own, ignores SIGHUP,
and logs to --log-file.`,
		Example: `  xstack mount volfiles/stripe.hcl /mnt/xstack --data /srv/xstack
  xstack mount --daemon --log-file /var/log/xstack.log @default /mnt/xstack`,
		Args: nargs(2, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			return serve(c, volfilePath(args[0]), co.varsMap(), args[1], false, &co, &sf)
		},
	}
	co.addFlags(cmd.Flags(), "info")
	sf.addFlags(cmd.Flags())
	return cmd
}

func umountCmd(c *cli) *cobra.Command {
	var lazy bool
	cmd := &cobra.Command{
		Use:   "umount [flags] MOUNTPOINT",
		Short: "Unmount a stack's mount (its daemon then exits)",
		Long: `Unmount MOUNTPOINT; the xstack process serving it then exits. A mount
with open files or a process's working directory in it is busy: close
them, or detach it now with -l and let the kernel finish when it is no
longer used. A dead mount (its daemon killed) is unmounted the same way.`,
		Example: `  xstack umount ./_xstack/mnt
  xstack umount -l /mnt/xstack`,
		Args: nargs(1, 1),
		RunE: func(_ *cobra.Command, args []string) error {
			return umount(c, args[0], lazy)
		},
	}
	cmd.Flags().BoolVarP(&lazy, "lazy", "l", false, "lazy unmount: detach now, clean up when no longer busy")
	return cmd
}

func umount(c *cli, mp string, lazy bool) error {
	flags := 0
	if lazy {
		flags = unix.MNT_DETACH
	}
	if err := unix.Unmount(mp, flags); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%s is busy (a process has files open or its cwd there); close them or use -l", mp)
		}
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%s is not a mount point", mp)
		}
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	fmt.Fprintf(c.stdout, "unmounted %s\n", mp)
	return nil
}

// serve runs a stack until SIGINT, SIGTERM or SIGHUP, mounting it if the
// volfile has a mount block or mountPoint is given. With --daemon it
// starts itself again in the background and returns once the child is
// ready (daemon.go); in that child, c.ready is set.
func serve(c *cli, path string, vars map[string]string, mountPoint string, createMount bool, co *common, sf *serveFlags) error {
	if sf.daemon && c.ready == nil {
		return daemonize(c, sf.logFile)
	}
	logTo := c.stderr
	if sf.logFile != "" {
		f, err := os.OpenFile(sf.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		logTo = f
	}
	log, err := co.logger(logTo)
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
			if err := os.MkdirAll(mountPoint, 0o755); err != nil && !deadMount(mountPoint) {
				return err
			}
		}
	}
	name := path
	if name == "" {
		name = stack.DefaultName
	}
	st, err := stack.Start(f, name, stack.Options{Vars: vars, Logger: log, Adopt: co.adopt,
		MetricsAddr: stack.MetricsAddr(f, sf.metricsAddr)})
	if err != nil {
		return err
	}
	defer st.Close()
	sigs := make(chan os.Signal, 2)
	if c.ready != nil {
		// A daemon has no terminal to lose.
		signal.Ignore(syscall.SIGHUP)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	} else {
		// Closing the terminal unmounts, rather than leave a dead mount.
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	}
	defer signal.Stop(sigs)

	admin, err := startAdmin(st, f, stackName(path), log)
	if err != nil {
		return err
	}
	defer admin.Close()

	stop := "Ctrl-C"
	if c.ready != nil {
		stop = fmt.Sprintf("kill %d", os.Getpid())
	}
	if st.Metrics != nil {
		fmt.Fprintf(c.stdout, "xstack: metrics at %s\n", st.Metrics.URL())
	}
	if mountPoint == "" {
		fmt.Fprintf(c.stdout, "xstack: running %s (pid %d) without a mount; statedump: xstack dump %s; stop: %s\n",
			name, os.Getpid(), admin.Socket(), stop)
		notifyReady(c)
		<-sigs
		return nil
	}
	fuse.SpareProcs()
	cfg := fuse.DefaultConfig(mountPoint)
	cfg.Logger = log
	cfg.FSName = "xstack:" + stackName(path)
	applyMount(&cfg, f.Mount)
	srv, err := fuse.Mount(st.Graph, cfg)
	if err != nil {
		return err
	}
	admin.SetMountPoint(mountPoint)
	fmt.Fprintf(c.stdout, "xstack: mounted %s at %s (pid %d)\n", name, mountPoint, os.Getpid())
	fmt.Fprintf(c.stdout, "  statistics: xstack dump %s   (or kill -USR1 %d; dumps go to %s)\n", mountPoint, os.Getpid(), admin.DumpDir())
	fmt.Fprintf(c.stdout, "  stop:       %s, or xstack umount %s\n", stop, mountPoint)
	notifyReady(c)
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

func notifyReady(c *cli) {
	if c.ready != nil {
		c.ready()
	}
}

// deadMount reports whether dir is a FUSE mount whose daemon is gone
// (stat fails with ENOTCONN). MkdirAll then says only "file exists";
// fuse.Mount explains it and how to unmount it.
func deadMount(dir string) bool {
	_, err := os.Stat(dir)
	return errors.Is(err, syscall.ENOTCONN)
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
	if m.AllowOther != nil {
		cfg.AllowOther = *m.AllowOther
	}
	cfg.InodeLRULimit = int(m.InodeLRULimit)
	cfg.Passthrough = m.Passthrough
	cfg.WritebackCache = m.WritebackCache
	cfg.Transport = m.Transport
	if m.FSName != "" {
		cfg.FSName = m.FSName
	}
}

// stackName names the stack of the volfile at path ("" for the embedded
// default) in mount(8)'s source, `xstack list` and statedumps: the
// volfile's base name without its extension.
func stackName(path string) string {
	if path == "" {
		return "default"
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}
