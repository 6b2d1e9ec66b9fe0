package metrics

import "github.com/prometheus/client_golang/prometheus"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("xstack_"+name, help, labels, nil)
}

// The translators and their fops (statedump part fops).
var (
	xlatorUp = desc("xlator_up", "Whether the translator is up (1) or down (0), by volume and type.", "volume", "type")
	// fopLatency's _count is the number of fops served.
	fopLatency = desc("fop_latency_seconds",
		"Latency of the fops a translator served, its children's time included; _count counts the fops.", "volume", "fop")
	fopErrors    = desc("fop_errors_total", "Fops a translator served that failed.", "volume", "fop")
	fopBytes     = desc("fop_bytes_total", "Bytes the fops a translator served read or wrote.", "volume", "fop")
	fopBreaches  = desc("fop_contract_breaches_total", "Times a translator broke the fop contract (a bug in it).", "volume")
	scrapeMissed = desc("scrape_skipped_sections",
		"Statedump sections left out of this scrape because they did not answer within the budget (a lock was held).")
)

// Mem-pools (part mem), by owning volume and pool name.
var (
	poolHot      = desc("mempool_hot_objects", "Objects of the mem-pool in use.", "volume", "pool")
	poolCold     = desc("mempool_cold_objects", "Free objects the mem-pool keeps.", "volume", "pool")
	poolMaxHot   = desc("mempool_max_hot_objects", "High-water mark of objects in use.", "volume", "pool")
	poolAllocs   = desc("mempool_allocs_total", "Objects taken from the mem-pool.", "volume", "pool")
	poolMisses   = desc("mempool_misses_total", "Takes the mem-pool's preallocated chunk could not serve.", "volume", "pool")
	poolStd      = desc("mempool_stdalloc_objects", "Objects of the mem-pool allocated from the heap, alive.", "volume", "pool")
	poolPrealloc = desc("mempool_preallocated_objects", "Objects in the mem-pool's preallocated chunk.", "volume", "pool")
	poolObjSize  = desc("mempool_object_size_bytes", "Bytes per object, padding and state included.", "volume", "pool")
	poolPutErrs  = desc("mempool_put_errors_total", "Puts the mem-pool refused (double or foreign puts: a bug).", "volume", "pool")
)

// The iobuf pool (part iobuf).
var (
	iobufMapped     = desc("iobuf_mapped_bytes", "Bytes of iobuf arenas mapped.")
	iobufArenas     = desc("iobuf_arenas", "Iobuf arenas mapped.")
	iobufActive     = desc("iobuf_active_iobufs", "Iobufs held by callers, every class and heap ones.")
	iobufMisses     = desc("iobuf_request_misses_total", "Iobuf requests no arena could serve (served from the heap).")
	iobufStdBytes   = desc("iobuf_stdalloc_bytes", "Bytes of iobufs allocated from the heap, alive.")
	iobrefActive    = desc("iobref_active_iobrefs", "Iobrefs alive.")
	iobufPurged     = desc("iobuf_purged_arenas_total", "Idle iobuf arenas unmapped.")
	iobufUnderflows = desc("iobuf_ref_underflows_total", "Unrefs past zero (a bug).")
	iobufClassAct   = desc("iobuf_class_active_iobufs", "Iobufs of the page-size class in use.", "page_size")
	iobufClassPass  = desc("iobuf_class_passive_iobufs", "Free iobufs of the page-size class.", "page_size")
	iobufClassAlloc = desc("iobuf_class_allocs_total", "Iobufs of the page-size class handed out.", "page_size")
)

// Slab caches (part slab).
var (
	slabMapped  = desc("slab_mapped_bytes", "Bytes the slab cache has mapped.", "cache")
	slabActive  = desc("slab_active_objects", "Objects of the slab cache in use.", "cache")
	slabSlabs   = desc("slab_slabs", "Slabs of the slab cache.", "cache")
	slabAllocs  = desc("slab_allocs_total", "Objects allocated from the slab cache.", "cache")
	slabFrees   = desc("slab_frees_total", "Objects freed to the slab cache.", "cache")
	slabGrows   = desc("slab_grows_total", "Slabs the cache added.", "cache")
	slabReaped  = desc("slab_reaped_total", "Free slabs the cache returned.", "cache")
	slabErrors  = desc("slab_errors_total", "Refused frees (a bug).", "cache")
	slabCorrupt = desc("slab_corruptions_total", "Objects found overwritten past their end (a bug).", "cache")
)

// Bio sets and devices of the posix bricks (part bio: sections bio.<volume>).
var (
	bioActive    = desc("bio_active_bios", "Bios allocated and not yet freed.", "volume")
	bioAllocs    = desc("bio_allocs_total", "Bios allocated.", "volume")
	bioWaits     = desc("bio_reserve_waits_total", "Bio allocations that waited for a free vector table.", "volume")
	bioDevices   = desc("bio_devices_open", "Open files with a bio device.", "volume")
	bioInFlight  = desc("bio_in_flight_bios", "Bios submitted and not completed.", "volume")
	bioSubmitted = desc("bio_submitted_total", "Bios submitted, by operation.", "volume", "op")
	bioRequests  = desc("bio_requests_total", "Requests issued to the kernel (merged bios count once).", "volume")
	bioErrors    = desc("bio_errors_total", "Bios completed with an error.", "volume")
	bioRead      = desc("bio_read_bytes_total", "Bytes read by bios.", "volume")
	bioWritten   = desc("bio_written_bytes_total", "Bytes written by bios.", "volume")
)

// The FUSE front end (the registered section xlator.mount.fuse.priv).
var (
	fuseRequests  = desc("fuse_requests_total", "FUSE requests served, by operation.", "op")
	fuseErrors    = desc("fuse_request_errors_total", "FUSE requests answered with an error, by operation.", "op")
	fuseRead      = desc("fuse_read_bytes_total", "Bytes read through the FUSE mount.")
	fuseWritten   = desc("fuse_written_bytes_total", "Bytes written through the FUSE mount.")
	fuseNodes     = desc("fuse_nodes", "Nodes the kernel holds.")
	fuseHandles   = desc("fuse_open_handles", "Open file handles the kernel holds.")
	fuseWorkers   = desc("fuse_loop_workers", "Threads of xstack's FUSE reader loop.")
	fuseHandoffs  = desc("fuse_loop_handoffs_total", "Requests served by another thread than the one before.")
	fuseStalls    = desc("fuse_loop_stalls_total", "Readers added beside a request that ran long.")
	fuseInterrupt = desc("fuse_interrupts_total", "FUSE requests the kernel interrupted.")
)

// Plugin volumes (part priv of volumes of type plugin).
var (
	pluginState    = desc("plugin_state", "1 for the plugin process's current state (running, restarting, stopped), 0 for the others.", "volume", "state")
	pluginRestarts = desc("plugin_restarts_total", "Times the plugin process was restarted.", "volume")
	pluginTimeouts = desc("plugin_calls_timed_out_total", "Fops that waited call-timeout for the plugin.", "volume")
	pluginPings    = desc("plugin_pings_total", "Pings sent to the plugin after a timeout.", "volume")
	pluginUnans    = desc("plugin_pings_unanswered_total", "Pings the plugin did not answer (it was killed).", "volume")
	pluginBreaches = desc("plugin_protocol_breaches_total", "Times the plugin broke the protocol (it was killed).", "volume")
	pluginFds      = desc("plugin_fds", "Fds the plugin opened in the host.", "volume")
	pluginRing     = desc("plugin_ring_calls_total", "Fops sent to the plugin through the shared-memory ring.", "volume")
	pluginGRPC     = desc("plugin_grpc_fop_calls_total", "Fops sent to the plugin by gRPC (they did not fit a ring).", "volume")
)

// pluginStates are the values of xstack_plugin_state's state label.
var pluginStates = []string{"running", "restarting", "stopped"}
