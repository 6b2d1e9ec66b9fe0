package statedump

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// ProtocolVersion is the version of the admin socket protocol.
//
// The protocol: the client sends one line, a JSON Request; the server
// answers with one line, a JSON Reply, and, if the reply has no error, the
// dump in the requested format until it closes the connection. A server
// answers requests of any version from 1 to its own.
//
// Version 2 adds op "profile": the answer after the Reply line is one
// JSON object, {"now": ProfileSnapshot, "base": ProfileSnapshot or null},
// the baseline being the snapshot of the last profile request with
// clear; with clear, the server keeps "now" as the new baseline. Clients
// send the lowest version their request needs, so that a dump works with
// an older server.
const ProtocolVersion = 2

// The requests' ops.
const (
	OpDump    = "dump"    // a statedump (also ""); version 1
	OpProfile = "profile" // a profile snapshot and the baseline; version 2
)

// Request asks a running stack for a dump or a profile.
type Request struct {
	Version int      `json:"version"`
	Op      string   `json:"op,omitempty"`     // OpDump ("" too) or OpProfile
	Parts   []string `json:"parts,omitempty"`  // dump: part names; empty means all
	Format  string   `json:"format,omitempty"` // dump: "text" (default) or "json"
	Clear   bool     `json:"clear,omitempty"`  // profile: keep this snapshot as the new baseline
}

// profileAnswer is what follows the Reply line of a profile request.
type profileAnswer struct {
	Now  ProfileSnapshot  `json:"now"`
	Base *ProfileSnapshot `json:"base"`
}

// Reply is the first line of the server's answer.
type Reply struct {
	Version int    `json:"version"`
	Error   string `json:"error,omitempty"`
}

// ErrSocketInUse is returned by Listen when a live process serves the
// socket path already.
var ErrSocketInUse = errors.New("statedump: admin socket in use")

// ErrPermission is returned by Fetch when the server or the client is not
// allowed to talk to the other: the server must run as the client's user or
// root, the client must be the server's user or root.
var ErrPermission = errors.New("statedump: permission denied")

// maxRequest bounds a request line.
const maxRequest = 64 << 10

// Server serves dumps on a unix socket. The socket file has mode 0600 and
// every connection's peer credentials (SO_PEERCRED) are checked: only the
// server's own user and root get a dump.
type Server struct {
	d    *Dumper
	ln   *net.UnixListener
	path string
	ino  uint64
	log  *zap.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	profMu   sync.Mutex
	profBase *ProfileSnapshot // the last profile snapshot taken with clear
}

// Listen creates the admin socket at path and serves d's dumps on it until
// Close. A stale socket at path (no process listening) is removed; a live
// one makes Listen fail with ErrSocketInUse, naming the pid that serves
// it; any other file at path is left alone and is an error.
func Listen(path string, d *Dumper, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("statedump: admin socket path %s is too long (%d bytes, at most %d); choose a shorter statedump.socket",
			path, len(path), len(unix.RawSockaddrUnix{}.Path)-1)
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	// Bind under a temporary name, make it private, then link it into
	// place: the socket is never reachable at path with a wider mode, and
	// a socket another process put at path meanwhile is not clobbered.
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, fmt.Sprintf(".xstack-%d-%d.sock", os.Getpid(), time.Now().UnixNano()%1e9))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("statedump: admin socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	err = os.Chmod(tmp, 0o600)
	if err == nil {
		err = os.Link(tmp, path)
	}
	os.Remove(tmp)
	if err != nil {
		ln.Close()
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s appeared while starting; is another xstack starting?", ErrSocketInUse, path)
		}
		return nil, fmt.Errorf("statedump: admin socket: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		ln.Close()
		return nil, fmt.Errorf("statedump: admin socket: %w", err)
	}
	s := &Server{d: d, ln: ln, path: path, ino: st.Ino, log: log, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// clearStale removes a socket at path that nobody listens on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statedump: admin socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("statedump: admin socket path %s exists and is not a socket; remove it or set statedump.socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		who := ""
		if cr, err := peerCred(c.(*net.UnixConn)); err == nil {
			who = fmt.Sprintf(" (pid %d, uid %d)", cr.Pid, cr.Uid)
		}
		c.Close()
		return fmt.Errorf("%w: %s is served by a running process%s; stop it or set statedump.socket", ErrSocketInUse, path, who)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("statedump: admin socket %s exists and cannot be checked: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("statedump: remove stale admin socket: %w", err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, ends the connections being served, and removes the
// socket file if it is still the one Listen made.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	var st unix.Stat_t
	if unix.Stat(s.path, &st) == nil && st.Ino == s.ino {
		os.Remove(s.path)
	}
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("admin socket: accept failed", zap.Error(err))
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil {
		return nil, err
	}
	return cred, cerr
}

// allowedUID reports whether uid may talk to this process: its own
// effective uid, or root.
func allowedUID(uid uint32) bool { return uid == 0 || uid == uint32(os.Geteuid()) }

func reply(w io.Writer, r Reply) error {
	r.Version = ProtocolVersion
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (s *Server) handle(c *net.UnixConn) {
	cred, err := peerCred(c)
	if err != nil {
		s.log.Warn("admin socket: cannot read peer credentials; refusing", zap.Error(err))
		return
	}
	if !allowedUID(cred.Uid) {
		s.log.Warn("admin socket: refusing a dump to another user",
			zap.Uint32("uid", cred.Uid), zap.Int32("pid", cred.Pid))
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_ = reply(c, Reply{Error: fmt.Sprintf("permission denied: uid %d may not read this stack's statedump (only uid %d and root)",
			cred.Uid, os.Geteuid())})
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, maxRequest)).ReadBytes('\n')
	if err != nil {
		_ = reply(c, Reply{Error: "bad request: want one line of JSON, e.g. {\"version\":1,\"parts\":[\"mem\"],\"format\":\"text\"}"})
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		_ = reply(c, Reply{Error: "bad request: " + err.Error()})
		return
	}
	if req.Version < 1 || req.Version > ProtocolVersion {
		_ = reply(c, Reply{Error: "unsupported protocol version " + strconv.Itoa(req.Version) +
			"; this xstack speaks 1 to " + strconv.Itoa(ProtocolVersion)})
		return
	}
	switch req.Op {
	case "", OpDump:
	case OpProfile:
		if req.Version < 2 {
			_ = reply(c, Reply{Error: "op profile needs protocol version 2"})
			return
		}
		s.profile(c, req.Clear)
		return
	default:
		_ = reply(c, Reply{Error: fmt.Sprintf("unknown op %q: use %q or %q", req.Op, OpDump, OpProfile)})
		return
	}
	opts := Options{Format: Format(req.Format)}
	for _, p := range req.Parts {
		part, err := ParsePart(p)
		if err != nil {
			_ = reply(c, Reply{Error: err.Error()})
			return
		}
		opts.Parts = append(opts.Parts, part)
	}
	opts, err = opts.check()
	if err != nil {
		_ = reply(c, Reply{Error: err.Error()})
		return
	}
	dump := s.d.collect(opts)
	_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
	w := bufio.NewWriter(c)
	if err := reply(w, Reply{}); err == nil {
		err = Render(w, dump, opts.Format)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			s.log.Debug("admin socket: writing a dump failed", zap.Error(err))
		}
	}
}

// profile answers a profile request: the snapshot now and the baseline;
// with clear, now becomes the baseline.
func (s *Server) profile(c *net.UnixConn, clear bool) {
	s.profMu.Lock()
	now := s.d.Snapshot()
	ans := profileAnswer{Now: now, Base: s.profBase}
	if clear {
		s.profBase = &now
	}
	s.profMu.Unlock()
	_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
	w := bufio.NewWriter(c)
	if err := reply(w, Reply{}); err == nil {
		err = json.NewEncoder(w).Encode(ans)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			s.log.Debug("admin socket: writing a profile failed", zap.Error(err))
		}
	}
}

// Fetch asks the stack serving socket for a dump and copies it to w. It
// checks the server's credentials too: a socket served by another user
// (not root) is refused, so a planted socket cannot feed a false dump.
func Fetch(socket string, req Request, w io.Writer) error {
	if req.Version == 0 {
		req.Version = 1 // all a dump needs: an older server answers it too
	}
	c, r, err := roundTrip(socket, req)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("statedump: %s: %w", socket, err)
	}
	return nil
}

// roundTrip sends req to the stack serving socket, checking who serves
// it, and reads the Reply line; the caller reads the answer from the
// reader and closes the connection.
func roundTrip(socket string, req Request) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			return nil, nil, fmt.Errorf("%w: the admin socket %s belongs to another user; run as that user or root", ErrPermission, socket)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("%w: %s is a stale admin socket (its stack is gone)", ErrNoStack, socket)
		}
		return nil, nil, fmt.Errorf("statedump: %w", err)
	}
	fail := func(err error) (net.Conn, *bufio.Reader, error) {
		c.Close()
		return nil, nil, err
	}
	uc := c.(*net.UnixConn)
	if cred, err := peerCred(uc); err != nil {
		return fail(fmt.Errorf("statedump: %s: peer credentials: %w", socket, err))
	} else if !allowedUID(cred.Uid) {
		return fail(fmt.Errorf("%w: %s is served by uid %d (pid %d), neither you nor root", ErrPermission, socket, cred.Uid, cred.Pid))
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	b, err := json.Marshal(req)
	if err != nil {
		return fail(err)
	}
	// A server that refuses the client answers without reading the
	// request, so a failed write still leaves a reply to read.
	_, werr := c.Write(append(b, '\n'))
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		if werr != nil {
			err = werr
		}
		return fail(fmt.Errorf("statedump: %s: no reply: %w", socket, err))
	}
	var rep Reply
	if err := json.Unmarshal(line, &rep); err != nil {
		return fail(fmt.Errorf("statedump: %s: bad reply: %w", socket, err))
	}
	if rep.Error != "" {
		if strings.HasPrefix(rep.Error, "permission denied") {
			return fail(fmt.Errorf("%w: %s", ErrPermission, rep.Error))
		}
		return fail(fmt.Errorf("statedump: %s", rep.Error))
	}
	return c, r, nil
}

// ProfileOptions select what FetchProfile asks for.
type ProfileOptions struct {
	// Clear makes the stack keep this profile's snapshot as its baseline:
	// the next profile's interval starts now (GlusterFS's `volume
	// profile VOL info clear`).
	Clear bool
	// Interval, when positive, takes two snapshots this far apart and
	// reports the interval between them instead of the one since the
	// last clear; Clear then applies to the second.
	Interval time.Duration
}

// FetchProfile asks the stack serving socket for its profile (see
// NewProfile): cumulative since the stack started, and over the interval
// since the last clear (or over opts.Interval). Render it with
// WriteProfile. The socket is checked as Fetch checks it.
func FetchProfile(socket string, opts ProfileOptions) (*Profile, error) {
	if opts.Interval > 0 {
		first, err := fetchProfile(socket, false)
		if err != nil {
			return nil, err
		}
		time.Sleep(opts.Interval)
		second, err := fetchProfile(socket, opts.Clear)
		if err != nil {
			return nil, err
		}
		p, err := NewProfile(second.Now, &first.Now)
		if p != nil {
			p.Cleared = opts.Clear
		}
		return p, err
	}
	a, err := fetchProfile(socket, opts.Clear)
	if err != nil {
		return nil, err
	}
	p, err := NewProfile(a.Now, a.Base)
	if p != nil {
		p.Cleared = opts.Clear
	}
	return p, err
}

func fetchProfile(socket string, clear bool) (*profileAnswer, error) {
	c, r, err := roundTrip(socket, Request{Version: 2, Op: OpProfile, Clear: clear})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var a profileAnswer
	if err := json.NewDecoder(r).Decode(&a); err != nil {
		return nil, fmt.Errorf("statedump: %s: bad profile: %w", socket, err)
	}
	return &a, nil
}
