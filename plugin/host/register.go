package host

import (
	"time"

	"github.com/xstack/xstack/xlator"
)

// TypeName is the volfile type of a plugin volume: type = "plugin".
const TypeName = "plugin"

// Schema is the host's own options of a plugin volume. The plugin's
// options come from the schema it publishes (SchemaFor) and are checked
// in the same volume block; at start, the running plugin's own schema is
// the authority.
var Schema = xlator.Schema{
	{Name: "path", Kind: xlator.KindPath, Required: true, FromVolfile: true,
		Doc: "the plugin binary (a main package that calls plugin.Serve); a relative path is relative to the volfile's directory"},
	{Name: "sha256", Kind: xlator.KindString,
		Doc: "hex SHA-256 of the binary; when set, a binary that does not match is refused"},
	{Name: "restart-backoff", Kind: xlator.KindDuration, Default: "100ms", Min: int64(time.Millisecond), Max: int64(time.Minute),
		Doc: "wait before the first restart of a plugin that died; doubled after every failed restart"},
	{Name: "restart-backoff-max", Kind: xlator.KindDuration, Default: "10s", Min: int64(time.Millisecond), Max: int64(time.Hour),
		Doc: "longest wait between restarts"},
	{Name: "shm-size", Kind: xlator.KindSize, Default: "32MiB", Min: 0, Max: 1 << 30,
		Doc: "shared memory for readv and writev data between host and plugin, in 1 MiB slots; 0 sends data inside the messages"},
	{Name: "start-timeout", Kind: xlator.KindDuration, Default: "10s", Min: int64(100 * time.Millisecond), Max: int64(10 * time.Minute),
		Doc: "how long the plugin may take to start and answer the handshake"},
	{Name: "call-timeout", Kind: xlator.KindDuration, Default: "60s", Min: int64(100 * time.Millisecond), Max: int64(24 * time.Hour),
		Doc: "longest wait for the plugin's reply to a fop: past it the caller gets ETIMEDOUT, and a plugin that then does not answer a ping is killed and restarted"},
}

// Register adds the plugin type to r. Its SchemaFor reads the schema a
// plugin publishes beside its binary (SchemaFile) and runs nothing; each
// registry remembers the sha256 of the binaries it read.
func Register(r *xlator.Registry) {
	sc := newSumCache()
	r.MustRegister(xlator.Type{
		Name:        TypeName,
		Doc:         "runs a translator in its own process (a go-plugin binary); its children stay in the host",
		Options:     Schema,
		MinChildren: 0,
		MaxChildren: -1,
		New:         func() xlator.Xlator { return newPlugin() },
		SchemaFor:   sc.schemaFor,
		// The plugin reads writev data in the host's iobufs in place.
		SharedIobufs: true,
	})
}
