package locks

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/xstack/xstack/xlator"
)

// maxDumpedInodes bounds the files a statedump lists; the rest are
// counted (inodes-not-listed).
const maxDumpedInodes = 1000

// Dump returns the statedump section: the counters, then every file with
// locks in GlusterFS's format (see the package comment).
func (l *Locks) Dump() []xlator.KV {
	l.mu.Lock()
	type file struct {
		path, gfid    string
		posix, flocks []lock
		blocked       []lock
	}
	files := make([]file, 0, min(len(l.inodes), maxDumpedInodes))
	for in, st := range l.inodes {
		// in stays valid while the mutex is held: fds hold it, and the
		// Release that drops the last one waits for the mutex.
		f := file{path: in.Path(), gfid: in.GFID().String(), posix: slices.Clone(st.posix), flocks: slices.Clone(st.flocks)}
		for _, w := range st.blocked {
			f.blocked = append(f.blocked, *w)
		}
		files = append(files, f)
	}
	held := len(l.inodes)
	l.mu.Unlock()
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.path, b.path) })
	kvs := []xlator.KV{
		{Key: "granted", Value: l.granted.Load()},
		{Key: "conflicts", Value: l.conflicts.Load()},
		{Key: "waits", Value: l.waits.Load()},
		{Key: "waits-interrupted", Value: l.interrupted.Load()},
		{Key: "released-by-flush", Value: l.flushed.Load()},
		{Key: "released-by-release", Value: l.released.Load()},
		{Key: "inodes-with-locks", Value: held},
	}
	if len(files) > maxDumpedInodes {
		kvs = append(kvs, xlator.KV{Key: "inodes-not-listed", Value: len(files) - maxDumpedInodes})
		files = files[:maxDumpedInodes]
	}
	for i, f := range files {
		p := "inode[" + strconv.Itoa(i) + "]."
		kvs = append(kvs,
			xlator.KV{Key: p + "path", Value: f.path},
			xlator.KV{Key: p + "gfid", Value: f.gfid},
			xlator.KV{Key: p + "mandatory", Value: 0})
		var posixN, flockN int
		line := func(kind, state string, g *lock) {
			n := &posixN
			if kind == "flock" {
				n = &flockN
			}
			kvs = append(kvs, xlator.KV{Key: fmt.Sprintf("%s%s.%s[%d](%s)", p, kind, kind, *n, state), Value: describe(g, state)})
			*n++
		}
		for j := range f.posix {
			line("posixlk", "ACTIVE", &f.posix[j])
		}
		for j := range f.blocked {
			if !f.blocked[j].whole {
				line("posixlk", "BLOCKED", &f.blocked[j])
			}
		}
		for j := range f.flocks {
			line("flock", "ACTIVE", &f.flocks[j])
		}
		for j := range f.blocked {
			if f.blocked[j].whole {
				line("flock", "BLOCKED", &f.blocked[j])
			}
		}
		kvs = append(kvs, xlator.KV{Key: p + "posixlk-count", Value: posixN}, xlator.KV{Key: p + "flock-count", Value: flockN})
	}
	return kvs
}

// describe renders one lock as GlusterFS's posixlk lines do.
func describe(g *lock, state string) string {
	typ := "READ"
	if g.typ == xlator.LockWrite {
		typ = "WRITE"
	}
	length := int64(0) // to the end of the file
	if g.end != xlator.LockToEOF {
		length = g.end - g.start + 1
	}
	at := "granted at "
	if state == "BLOCKED" {
		at = "blocked at "
	}
	return fmt.Sprintf("type=%s, whence=0, start=%d, len=%d, pid = %d, owner=%016x, %s%s",
		typ, g.start, length, g.pid, g.owner, at, g.since.UTC().Format("2006-01-02 15:04:05.000000"))
}
