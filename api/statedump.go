package api

import (
	"io"

	"github.com/xstack/xstack/statedump"
)

// Statedump writes a statedump of the volume's stack to w, as `xstack
// dump` and SIGUSR1 produce it: opts selects the parts and the format (text
// by default, or JSON in the statedump.Dump schema). Nothing of the stack
// is held while w is written, so a slow w does not stall IO. The error is
// one of invalid options (statedump.ErrUnknownPart, ErrUnknownFormat) or
// w's.
func (v *Volume) Statedump(w io.Writer, opts statedump.Options) error {
	st := v.Stack()
	return statedump.Write(w, statedump.Source{Graph: st.Graph, Env: st.Env, Volfile: st.Path, Started: st.Started}, opts)
}
