package volfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Diagnostics is the outcome of loading a volfile when something needs
// saying: errors, warnings, or both. It keeps the parsed sources so that
// Write can show the offending lines.
//
// Parse and Load return a nil *Diagnostics when there is nothing to say. All
// methods are safe on a nil receiver, so callers test
//
//	f, diags := volfile.Load(path, reg, vars)
//	if diags.HasErrors() { diags.Write(os.Stderr, true, 80); return }
//
// Beware storing a nil *Diagnostics in an error variable: the interface is
// then non-nil. Use Err, which returns a nil error when there are no errors.
type Diagnostics struct {
	// Diags are the diagnostics in source order.
	Diags hcl.Diagnostics
	files map[string]*hcl.File
}

// HasErrors reports whether any diagnostic is an error (warnings alone do
// not stop loading).
func (d *Diagnostics) HasErrors() bool {
	return d != nil && d.Diags.HasErrors()
}

// Err returns d as an error if it holds errors, else a nil error.
func (d *Diagnostics) Err() error {
	if !d.HasErrors() {
		return nil
	}
	return d
}

// Error renders the diagnostics one per line as "file:line:col: summary;
// detail", without source context. Use Write for the full form.
func (d *Diagnostics) Error() string {
	if d == nil || len(d.Diags) == 0 {
		return "no diagnostics"
	}
	var b strings.Builder
	for i, diag := range d.Diags {
		if i > 0 {
			b.WriteByte('\n')
		}
		if diag.Subject != nil {
			fmt.Fprintf(&b, "%s: ", posString(*diag.Subject))
		}
		if diag.Severity == hcl.DiagWarning {
			b.WriteString("warning: ")
		}
		b.WriteString(diag.Summary)
		if diag.Detail != "" {
			b.WriteString("; ")
			b.WriteString(diag.Detail)
		}
	}
	return b.String()
}

// Write renders every diagnostic in the style of hcl's diagnostic text
// writer, with the position as file:line:col and the subject underlined
// with carets under the source line:
//
//	Error: Unknown volume type "posx"
//
//	  on vol.hcl:3:15, in volume "brick0":
//	     3:   type = "posx"
//	                 ^^^^^^
//
//	No xlator type is registered as "posx". Did you mean "posix"? ...
//
// color adds VT100 colors; width, when not zero, wraps the detail text.
func (d *Diagnostics) Write(w io.Writer, color bool, width uint) error {
	if d == nil {
		return nil
	}
	for _, diag := range d.Diags {
		if err := d.writeOne(w, diag, color, width); err != nil {
			return err
		}
	}
	return nil
}

func (d *Diagnostics) writeOne(w io.Writer, diag *hcl.Diagnostic, color bool, width uint) error {
	var b bytes.Buffer
	sev, col, reset := "Error", "", ""
	if diag.Severity == hcl.DiagWarning {
		sev = "Warning"
	}
	if color {
		col, reset = "\x1b[1;31m", "\x1b[0m"
		if diag.Severity == hcl.DiagWarning {
			col = "\x1b[1;33m"
		}
	}
	fmt.Fprintf(&b, "%s%s%s: %s\n\n", col, sev, reset, diag.Summary)
	if s := diag.Subject; s != nil {
		var file *hcl.File
		if d.files != nil {
			file = d.files[s.Filename]
		}
		where := ""
		if file != nil {
			if cs, ok := file.Nav.(interface{ ContextString(int) string }); ok {
				if c := cs.ContextString(s.Start.Byte); c != "" {
					where = ", in " + c
				}
			}
		}
		fmt.Fprintf(&b, "  on %s%s:\n", posString(*s), where)
		if file != nil && file.Bytes != nil {
			writeSnippet(&b, file.Bytes, *s, col, reset)
		}
		b.WriteByte('\n')
	}
	if diag.Detail != "" {
		detail := diag.Detail
		if width > 0 {
			detail = wrap(detail, int(width))
		}
		b.WriteString(detail)
		b.WriteString("\n\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// maxSnippetLines bounds the source shown for one diagnostic; a volume
// block's whole body would drown the message.
const maxSnippetLines = 3

// writeSnippet prints the source lines the range covers, each followed by
// a line of carets under the covered columns. Tabs in the source are
// repeated in the caret line so the carets line up whatever the tab width.
func writeSnippet(b *bytes.Buffer, src []byte, r hcl.Range, col, reset string) {
	sc := hcl.NewRangeScanner(src, r.Filename, bufio.ScanLines)
	shown := 0
	for sc.Scan() {
		line := sc.Range()
		if line.End.Byte < r.Start.Byte || line.Start.Byte > r.End.Byte {
			continue
		}
		if line.Start.Byte > r.Start.Byte && line.Start.Byte == r.End.Byte {
			break // the range ends at the start of this line
		}
		if shown == maxSnippetLines {
			fmt.Fprintf(b, "%6s  ...\n", "")
			break
		}
		shown++
		text := sc.Bytes()
		from := max(r.Start.Byte-line.Start.Byte, 0)
		to := min(r.End.Byte-line.Start.Byte, len(text))
		if to <= from {
			to = from + 1 // an empty range still gets one caret
		}
		fmt.Fprintf(b, "%6d: %s\n", line.Start.Line, text)
		fmt.Fprintf(b, "%6s  ", "")
		fromC := min(from, len(text))
		for _, c := range string(text[:fromC]) {
			if c == '\t' {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
		}
		n := 1
		if fromC < len(text) {
			n = max(utf8.RuneCount(text[fromC:min(to, len(text))]), 1)
		}
		b.WriteString(col + strings.Repeat("^", n) + reset + "\n")
	}
}

// wrap breaks s into lines of at most width columns at spaces, keeping
// existing line breaks and each line's indentation; a word longer than
// width stays whole.
func wrap(s string, width int) string {
	var out strings.Builder
	for i, para := range strings.Split(s, "\n") {
		if i > 0 {
			out.WriteByte('\n')
		}
		indent := para[:len(para)-len(strings.TrimLeft(para, " \t"))]
		out.WriteString(indent)
		n := len(indent)
		for j, word := range strings.Fields(para) {
			wl := utf8.RuneCountInString(word)
			if j > 0 && n+1+wl > width {
				out.WriteByte('\n')
				n = 0
			} else if j > 0 {
				out.WriteByte(' ')
				n++
			}
			out.WriteString(word)
			n += wl
		}
	}
	return out.String()
}

// posString renders the start of r as file:line:col.
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// sortDiags orders diagnostics by position; diagnostics without a subject
// (such as an unknown -var) come first. The sort is stable so that several
// diagnostics on one spot keep the order they were found in.
func sortDiags(ds hcl.Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Subject, ds[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}
