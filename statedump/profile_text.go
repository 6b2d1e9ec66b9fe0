package statedump

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteProfile renders p: FormatJSON as the Profile type, FormatText (or
// "") as GlusterFS's `volume profile VOL info` prints a brick, one table
// per translator, cumulative then interval, with two more columns: the
// average self time and its share of the latency (%-self).
func WriteProfile(w io.Writer, p *Profile, f Format) error {
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	case "", FormatText:
	default:
		return fmt.Errorf("%w %q: use text or json", ErrUnknownFormat, f)
	}
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "Profile of %s (pid %d)\n", p.Name, p.Pid)
	for i, x := range p.Cumulative.Xlators {
		head := fmt.Sprintf("Volume: %s (type %s", x.Name, x.Type)
		if len(x.Children) > 0 {
			head += ", children " + strings.Join(x.Children, ", ")
		}
		head += ")"
		fmt.Fprintf(b, "\n%s\n%s\n", head, strings.Repeat("-", len(head)))
		writePeriod(b, "Cumulative Stats:", x, p.Cumulative)
		if p.Interval != nil && i < len(p.Interval.Xlators) {
			writePeriod(b, "Interval Stats:", p.Interval.Xlators[i], *p.Interval)
		}
	}
	if p.Interval == nil {
		b.WriteString("\nNo interval: the stack was never cleared (profile with clear to start one).\n")
	}
	if p.Cleared {
		b.WriteString("\nCleared: the next interval starts now.\n")
	}
	return b.Flush()
}

func writePeriod(b *bufio.Writer, title string, x ProfileXlatorOf, pp ProfilePeriod) {
	fmt.Fprintf(b, "%s\n", title)
	var total int64
	var read, written uint64
	approx := false
	for _, f := range x.Fops {
		total += f.SumNs
		switch f.Fop {
		case "READ":
			read += f.Bytes
		case "WRITE":
			written += f.Bytes
		}
	}
	if len(x.Fops) > 0 {
		fmt.Fprintf(b, " %9s %13s %13s %13s %13s %7s %13s %8s   %s\n",
			"%-latency", "Avg-latency", "Min-Latency", "Max-Latency", "Self-Avg", "%-self", "No. of calls", "Errors", "Fop")
		fmt.Fprintf(b, " %9s %13s %13s %13s %13s %7s %13s %8s   %s\n",
			"---------", "-----------", "-----------", "-----------", "--------", "------", "------------", "------", "----")
	}
	for _, f := range x.Fops {
		minMark, maxMark := "", ""
		if f.MinFromBuckets {
			minMark, approx = "~", true
		}
		if f.MaxFromBuckets {
			maxMark, approx = "~", true
		}
		fmt.Fprintf(b, " %9.2f %13s %13s %13s %13s %7.1f %13d %8d   %s\n",
			pct(f.SumNs, total), us(f.MeanNs), minMark+us(f.MinNs), maxMark+us(f.MaxNs), us(f.SelfMeanNs),
			pct(f.SelfSumNs, f.SumNs), f.Count, f.Errors, f.Fop)
	}
	if approx {
		b.WriteString(" (~: bounds from the latency histogram; the interval's own extremes are not kept)\n")
	}
	fmt.Fprintf(b, "\n    Duration: %.1f seconds\n   Data Read: %d bytes\nData Written: %d bytes\n\n",
		pp.DurationSec, read, written)
}

func pct(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

func us(ns int64) string { return fmt.Sprintf("%.2f us", float64(ns)/1e3) }
