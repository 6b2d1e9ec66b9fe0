package xlator

//go:generate go run ../internal/fopgen/cmd/fopgen -root ..

// Fop names a file operation, for statistics and the calls in flight.
type Fop uint8

// String returns the fop's name as GlusterFS's io-stats prints it.
func (f Fop) String() string {
	if f < NumFops {
		return fopNames[f]
	}
	return "UNKNOWN"
}
