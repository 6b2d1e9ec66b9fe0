package volfile

import "testing"

func TestDistance(t *testing.T) {
	var lv levenshtein
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"posix", "posix", 0}, {"posx", "posix", 1}, {"directroy", "directory", 2},
		{"kitten", "sitting", 3}, {"", "abc", 3}, {"ß", "s", 1}, {"abc", "xyz", 3},
	} {
		if got := lv.distance(c.a, c.b, 100); got != c.want {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := lv.distance(c.a, c.b, 2); (got >= 2) != (c.want >= 2) {
			t.Errorf("distance(%q, %q, limit 2) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if got := suggest("brik1", []string{"brick0", "brick1", "stripe"}); got != "brick1" {
		t.Errorf("suggest = %q", got)
	}
	if got := suggest("ab", []string{"xy"}); got != "" {
		t.Errorf("suggest for a short unrelated name = %q", got)
	}
}
