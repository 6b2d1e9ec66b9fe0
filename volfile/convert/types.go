package convert

// The GlusterFS translator types convert knows, and what each becomes.

// rule maps one GlusterFS option.
type rule struct {
	to   string // the xstack option; "" refuses the option
	conv conv
	why  string // when refused: why, and the nearest xstack equivalent
}

// kind maps one GlusterFS type.
type kind struct {
	to string // the xstack type
	// fold, when set, removes the volume from the graph: its one
	// subvolume takes its place. The text says why and is written into
	// the converted file and the notes.
	fold string
	// refuse, when set, refuses the type: why, and the nearest xstack
	// equivalent.
	refuse string
	opts   map[string]rule
	// fixed are options the converted volume always gets, with their
	// reason (a GlusterFS behaviour that is not xstack's default).
	fixed []fixed
}

type fixed struct {
	name, value, why string
}

const (
	noneBrick = "xstack records a brick's identity itself (.xstack/brick.json, written at first start; an existing directory is taken with -adopt)"
	noneKnob  = "xstack has no such setting"

	noCacheSwitch       = "a volfile enables cache by naming it; leave the volume out to disable it"
	noWriteBehindSwitch = "a volfile enables write-behind by naming it; leave the volume out to disable it"
	nearestMdCache      = "nearest: the mount block's attr-timeout and entry-timeout (the kernel caches attributes and names)"
	nearestDistribute   = "xstack has no distribute translator; nearest: stripe, which spreads every file's blocks over its subvolumes"
	nearestQuota        = "xstack has no quota translator; nearest: posix's reserve"
)

var kinds = map[string]kind{
	"storage/posix": {
		to: "posix",
		opts: map[string]rule{
			"directory":             {to: "directory", conv: stringConv},
			"o-direct":              {to: "o-direct", conv: boolConv},
			"reserve":               {to: "reserve", conv: reserveConv},
			"health-check-interval": {to: "health-check-interval", conv: secondsConv},
			"volume-id":             {why: noneBrick},
			"glusterd-uuid":         {why: noneBrick},
			"node-uuid-pathinfo":    {why: noneBrick},
			"brick-uid":             {why: "xstack does not chown the brick: set the brick directory's owner yourself"},
			"brick-gid":             {why: "xstack does not chown the brick: set the brick directory's group yourself"},
			"linux-aio":             {why: `nearest: data-path = "bio" (the default), which submits IO as bios`},
			"linux-io_uring":        {why: `nearest: data-path = "bio" (the default), which submits IO as bios`},
			"batch-fsync-mode":      {why: `nearest: fsync = "normal", "data" or "none"`},
			"batch-fsync-delay-usec": {
				why: `nearest: fsync = "normal", "data" or "none"`},
			"health-check-timeout": {why: "nearest: health-check-interval"},
			"export-statfs-size":   {why: noneKnob},
			"mandate-attribute":    {why: "xstack always requires extended attributes on a brick"},
			"background-unlink":    {why: noneKnob},
			"janitor-sleep-duration": {
				why: noneKnob},
			"update-link-count-parent":  {why: noneKnob},
			"gfid2path":                 {why: noneKnob},
			"gfid2path-separator":       {why: noneKnob},
			"xattr-user-namespace-mode": {why: noneKnob},
			"shared-brick-count":        {why: noneKnob},
			"disable-landfill-purge":    {why: noneKnob},
			"force-create-mode":         {why: noneKnob},
			"force-directory-mode":      {why: noneKnob},
			"create-mask":               {why: noneKnob},
			"create-directory-mask":     {why: noneKnob},
			"max-hardlinks":             {why: noneKnob},
			"fips-mode-rchecksum":       {why: noneKnob},
			"ctime":                     {why: noneKnob},
		},
		fixed: []fixed{{"create-directory", "false",
			"GlusterFS's posix refuses a missing brick directory; xstack's would create it"}},
	},
	"features/locks": {
		to: "locks",
		opts: map[string]rule{
			"mandatory-locking":       {why: "xstack keeps advisory locks only"},
			"trace":                   {why: noneKnob},
			"monkey-unlocking":        {why: noneKnob},
			"revocation-secs":         {why: "xstack does not revoke locks: a lock goes when its owner closes the file or dies"},
			"revocation-clear-all":    {why: "xstack does not revoke locks: a lock goes when its owner closes the file or dies"},
			"revocation-max-blocked":  {why: "xstack does not revoke locks: a lock goes when its owner closes the file or dies"},
			"notify-contention":       {why: "xstack has no lease or contention upcalls"},
			"notify-contention-delay": {why: "xstack has no lease or contention upcalls"},
		},
	},
	"debug/io-stats": {
		fold: "xstack keeps these statistics for every translator: xstack dump shows them",
	},
	"performance/io-cache": {
		to: "cache",
		opts: map[string]rule{
			"cache-size":               {to: "cache-size", conv: sizeConv},
			"cache-timeout":            {to: "cache-timeout", conv: secondsConv},
			"force-revalidate-timeout": {to: "cache-timeout", conv: secondsConv},
			"min-file-size":            {to: "min-file-size", conv: sizeConv},
			"max-file-size":            {to: "max-file-size", conv: sizeConv},
			"priority":                 {to: "priority", conv: priorityConv},
			"io-cache":                 {why: noCacheSwitch},
			"pass-through":             {why: noCacheSwitch},
		},
	},
	"performance/write-behind": {
		to: "write-behind",
		opts: map[string]rule{
			"cache-size":            {to: "window-size", conv: sizeConv},
			"window-size":           {to: "window-size", conv: sizeConv},
			"flush-behind":          {to: "flush-behind", conv: boolConv},
			"strict-O_DIRECT":       {to: "strict-o-direct", conv: boolConv},
			"strict-write-ordering": {to: "strict-write-ordering", conv: boolConv},
			"write-behind":          {why: noWriteBehindSwitch},
			"pass-through":          {why: noWriteBehindSwitch},
		},
	},
	"cluster/stripe": {
		to: "stripe",
		opts: map[string]rule{
			// block-size is special: a list of sizes and patterns
			// (blockSizes), mapped by check and emit themselves.
			"coalesce":  {to: "coalesce", conv: boolConv},
			"use-xattr": {why: "xstack's stripe always keeps a file's geometry in an xattr"},
		},
		fixed: []fixed{{"coalesce", "true", "GlusterFS's stripe coalesces unless told not to; xstack's does not"}},
	},
	"protocol/client": {refuse: "xstack has no network translator: run xstack on the machine that holds the bricks, with a posix volume per brick"},
	"protocol/server": {refuse: "xstack has no network translator: the stack is served by its mount, the Go API or the command line"},
	"cluster/distribute": {
		refuse: nearestDistribute},
	"cluster/dht": {
		refuse: nearestDistribute},
	"cluster/nufa": {
		refuse: nearestDistribute},
	"cluster/replicate": {refuse: "xstack has no replication translator"},
	"cluster/afr":       {refuse: "xstack has no replication translator"},
	"cluster/disperse":  {refuse: "xstack has no erasure-coding translator"},
	"performance/read-ahead": {
		refuse: "nearest: the cache type's read-ahead option (pages read after a sequential miss)"},
	"performance/quick-read": {refuse: "nearest: the cache type, which keeps small files' pages too"},
	"performance/md-cache": {
		refuse: nearestMdCache},
	"performance/stat-prefetch": {
		refuse: nearestMdCache},
	"performance/open-behind":   {refuse: "xstack has no open-behind translator"},
	"performance/readdir-ahead": {refuse: "xstack has no readdir-ahead translator"},
	"performance/nl-cache":      {refuse: "nearest: the mount block's negative-timeout (the kernel caches missing names)"},
	"performance/io-threads":    {refuse: "xstack needs none: every request runs on its own goroutine"},
	"debug/trace":               {refuse: `nearest: log-level = "debug" on the volume to trace`},
	"features/access-control":   {refuse: "nearest: the mount block's default-permissions (the kernel checks permissions)"},
	"features/marker":           {refuse: "xstack has no quota or marker translator"},
	"features/quota":            {refuse: nearestQuota},
	"features/index":            {refuse: "xstack has no self-heal index"},
	"features/changelog":        {refuse: "xstack has no changelog translator"},
	"features/upcall":           {refuse: "xstack has no upcall translator"},
	"features/bitrot-stub":      {refuse: "nearest: the checksum example plugin (examples/plugins/checksum)"},
	"features/trash":            {refuse: "xstack has no trash translator"},
	"features/worm":             {refuse: "xstack has no read-only translator"},
	"features/read-only":        {refuse: "xstack has no read-only translator"},
	"features/shard":            {refuse: "nearest: stripe, which cuts files into blocks over subvolumes"},
	"features/utime":            {refuse: "xstack has no utime translator: posix keeps the times the brick gives"},
	"features/selinux":          {refuse: "xstack has no selinux translator"},
	"features/barrier":          {refuse: "xstack has no barrier translator"},
	"features/leases":           {refuse: "xstack has no lease translator"},
	"features/simple-quota":     {refuse: nearestQuota},
	"mgmt/glusterd":             {refuse: "xstack has no management daemon: a volfile is the whole configuration"},
	"system/posix-acl":          {refuse: "nearest: the mount block's default-permissions (the kernel checks ACLs on the brick's files)"},
}
