package transport

import (
	"testing"

	"github.com/xstack/xstack/internal/fopgen"
)

// TestRingRetryIsIdempotent checks the rings' retry of a call whose reply
// found no room against the fop table: only a fop that only reads is
// made again by gRPC.
func TestRingRetryIsIdempotent(t *testing.T) {
	ids := map[string]ringMethodID{}
	for _, d := range ringMethodIDs {
		ids[d.name] = d
	}
	for _, f := range fopgen.Table {
		d, ok := ids[f.Name]
		switch {
		case f.Data && ok:
			t.Errorf("%s carries data: it has ring ops of its own, not a unary method number", f.Name)
		case f.Data, f.Local:
		case !ok:
			t.Errorf("%s has no ring method number in ringMethodIDs: give it the next free one", f.Name)
		case d.retry != f.Idempotent:
			t.Errorf("%s: ring retry %v, the table says idempotent %v", f.Name, d.retry, f.Idempotent)
		}
	}
}
