package bio

// SetStats is a snapshot of a BioSet for the statedump. Counters count from
// the set's creation; gauges describe the moment of the snapshot. Fields are
// read one by one, so under concurrent use they need not agree exactly;
// they do when the set is quiescent.
type SetStats struct {
	Name string `json:"name"`

	Active      int64  `json:"active"`       // bios allocated and not yet freed (gauge)
	Allocs      uint64 `json:"allocs"`       // bios allocated: Inline + Slab + Reserve + Clones
	Frees       uint64 `json:"frees"`        // bios freed
	InlineVecs  uint64 `json:"inline-vecs"`  // allocations whose table fit inside the bio
	SlabVecs    uint64 `json:"slab-vecs"`    // allocations with a table from a bvec cache
	ReserveVecs uint64 `json:"reserve-vecs"` // allocations with a table from the reserve
	Clones      uint64 `json:"clones"`       // bios made by Split, borrowing vecs

	VecAllocFailures uint64 `json:"vec-alloc-failures"` // bvec cache allocations that failed
	ReserveSize      int    `json:"reserve-size"`       // tables in the reserve when all are home (minNr)
	ReserveFree      int    `json:"reserve-free"`       // tables in the reserve now (gauge)
	ReserveInUse     int64  `json:"reserve-in-use"`     // reserve tables held by live bios (gauge)
	ReserveWaits     uint64 `json:"reserve-waits"`      // Allocs that had to wait for a free table
	Waiting          int64  `json:"waiting"`            // Allocs in the slow path now (gauge)
}

// Sub returns the counters of s minus those of an earlier snapshot prev;
// gauges and identity fields are s's.
func (s SetStats) Sub(prev SetStats) SetStats {
	d := s
	d.Allocs -= prev.Allocs
	d.Frees -= prev.Frees
	d.InlineVecs -= prev.InlineVecs
	d.SlabVecs -= prev.SlabVecs
	d.ReserveVecs -= prev.ReserveVecs
	d.Clones -= prev.Clones
	d.VecAllocFailures -= prev.VecAllocFailures
	d.ReserveWaits -= prev.ReserveWaits
	return d
}

// Stats returns a snapshot of the set.
func (s *BioSet) Stats() SetStats {
	s.mu.Lock()
	free := len(s.reserve)
	s.mu.Unlock()
	frees := s.frees.Load()
	allocs := s.allocs.Load()
	return SetStats{
		Name:             s.name,
		Active:           int64(allocs - frees),
		Allocs:           allocs,
		Frees:            frees,
		InlineVecs:       s.inline.Load(),
		SlabVecs:         s.slabVecs.Load(),
		ReserveVecs:      s.reserveVecs.Load(),
		Clones:           s.clones.Load(),
		VecAllocFailures: s.vecFailures.Load(),
		ReserveSize:      s.minNr,
		ReserveFree:      free,
		ReserveInUse:     s.reserveOut.Load(),
		ReserveWaits:     s.reserveWaits.Load(),
		Waiting:          int64(s.waiters.Load()),
	}
}

// OpCounts counts bios by op.
type OpCounts struct {
	Read        uint64 `json:"read"`
	Write       uint64 `json:"write"`
	Flush       uint64 `json:"flush"`
	Discard     uint64 `json:"discard"`
	WriteZeroes uint64 `json:"write-zeroes"`
}

// Sub returns c minus prev.
func (c OpCounts) Sub(prev OpCounts) OpCounts {
	return OpCounts{
		Read:        c.Read - prev.Read,
		Write:       c.Write - prev.Write,
		Flush:       c.Flush - prev.Flush,
		Discard:     c.Discard - prev.Discard,
		WriteZeroes: c.WriteZeroes - prev.WriteZeroes,
	}
}

// DeviceStats is a snapshot of a Device for the statedump, with the same
// consistency rules as SetStats.
type DeviceStats struct {
	Name       string `json:"name"`
	QueueDepth int    `json:"queue-depth"`
	Workers    int    `json:"workers"`
	Direct     bool   `json:"direct"`
	BlockSize  int    `json:"block-size"`

	InFlight      int64    `json:"in-flight"`     // bios submitted and not completed (gauge)
	Submitted     OpCounts `json:"submitted"`     // bios submitted, by op
	Completed     uint64   `json:"completed"`     // bios completed
	Requests      uint64   `json:"requests"`      // requests issued to the engine
	Merged        uint64   `json:"merged"`        // bios merged into another's request
	Errors        uint64   `json:"errors"`        // bios completed with an error
	Misalignments uint64   `json:"misalignments"` // Direct bios refused as misaligned
	BytesRead     uint64   `json:"bytes-read"`
	BytesWritten  uint64   `json:"bytes-written"`
}

// Sub returns the counters of s minus those of an earlier snapshot prev;
// gauges and configuration are s's.
func (s DeviceStats) Sub(prev DeviceStats) DeviceStats {
	d := s
	d.Submitted = s.Submitted.Sub(prev.Submitted)
	d.Completed -= prev.Completed
	d.Requests -= prev.Requests
	d.Merged -= prev.Merged
	d.Errors -= prev.Errors
	d.Misalignments -= prev.Misalignments
	d.BytesRead -= prev.BytesRead
	d.BytesWritten -= prev.BytesWritten
	return d
}

// Add returns the counters and the in-flight gauge of s and o summed, for
// totals over several devices; configuration is s's.
func (s DeviceStats) Add(o DeviceStats) DeviceStats {
	d := s
	d.InFlight += o.InFlight
	d.Submitted = OpCounts{Read: s.Submitted.Read + o.Submitted.Read, Write: s.Submitted.Write + o.Submitted.Write,
		Flush: s.Submitted.Flush + o.Submitted.Flush, Discard: s.Submitted.Discard + o.Submitted.Discard,
		WriteZeroes: s.Submitted.WriteZeroes + o.Submitted.WriteZeroes}
	d.Completed += o.Completed
	d.Requests += o.Requests
	d.Merged += o.Merged
	d.Errors += o.Errors
	d.Misalignments += o.Misalignments
	d.BytesRead += o.BytesRead
	d.BytesWritten += o.BytesWritten
	return d
}

// Stats returns a snapshot of the device.
func (d *Device) Stats() DeviceStats {
	return DeviceStats{
		Name:       d.cfg.Name,
		QueueDepth: d.cfg.QueueDepth,
		Workers:    d.cfg.Workers,
		Direct:     d.cfg.Direct,
		BlockSize:  d.cfg.BlockSize,
		InFlight:   d.inFlight.Load(),
		Submitted: OpCounts{
			Read:        d.submitted[OpRead].Load(),
			Write:       d.submitted[OpWrite].Load(),
			Flush:       d.submitted[OpFlush].Load(),
			Discard:     d.submitted[OpDiscard].Load(),
			WriteZeroes: d.submitted[OpWriteZeroes].Load(),
		},
		Completed:     d.completed.Load(),
		Requests:      d.requests.Load(),
		Merged:        d.merged.Load(),
		Errors:        d.errors.Load(),
		Misalignments: d.misalignments.Load(),
		BytesRead:     d.bytesRead.Load(),
		BytesWritten:  d.bytesWritten.Load(),
	}
}
