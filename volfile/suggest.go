package volfile

import (
	"fmt"
	"strings"
)

// suggest returns the candidate closest to name by Levenshtein distance,
// or "" when none is close enough to be a plausible typo: distance at most
// 2, and at most about half the name's length so that short names do not
// match everything.
func suggest(name string, candidates []string) string {
	best, bestD := "", 3
	var lv levenshtein
	for _, c := range candidates {
		if d := lv.distance(name, c, bestD); d < bestD && d*2 <= len(name)+1 {
			best, bestD = c, d
		}
	}
	return best
}

// levenshtein computes edit distances in runes, reusing its buffers from
// call to call: suggest runs it against every candidate, and a volfile
// with thousands of volumes and as many typos must stay fast. (The MaxCost
// option of github.com/agext/levenshtein would bound the work too, but it
// panics on some inputs in v1.2.1.)
type levenshtein struct {
	a, b      []rune
	prev, cur []int
}

// distance returns the distance between a and b, or any value >= limit
// once it is certain to reach limit.
func (lv *levenshtein) distance(a, b string, limit int) int {
	lv.a = append(lv.a[:0], []rune(a)...)
	lv.b = append(lv.b[:0], []rune(b)...)
	ra, rb := lv.a, lv.b
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	if cap(lv.prev) < len(rb)+1 {
		lv.prev, lv.cur = make([]int, len(rb)+1), make([]int, len(rb)+1)
	}
	prev, cur := lv.prev[:len(rb)+1], lv.cur[:len(rb)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// didYouMean is suggest as a sentence, "" when there is no suggestion.
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// maxListed bounds the names a message lists; a long list helps nobody.
const maxListed = 12

// quoteList renders names as `"a", "b" and "c"`, at most maxListed of them.
func quoteList(names []string) string {
	n := min(len(names), maxListed)
	q := make([]string, n, n+1)
	for i := range n {
		q[i] = fmt.Sprintf("%q", names[i])
	}
	if len(names) > n {
		q = append(q, fmt.Sprintf("%d more", len(names)-n))
	}
	return joinList(q)
}

// joinList renders items as "a, b and c".
func joinList(items []string) string {
	switch len(items) {
	case 0:
		return "(none)"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
