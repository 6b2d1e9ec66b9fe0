package stack

import (
	"net/http"
	"testing"

	"github.com/xstack/xstack/volfile"
)

// TestMetricsAddr: the command line's address wins over the volfile's
// metrics block; without either there is no endpoint.
func TestMetricsAddr(t *testing.T) {
	withBlock := &volfile.File{Metrics: &volfile.Metrics{Address: "127.0.0.1:9464"}}
	for _, c := range []struct {
		f          *volfile.File
		flag, want string
	}{
		{withBlock, "", "127.0.0.1:9464"},
		{withBlock, "0.0.0.0:9100", "0.0.0.0:9100"},
		{&volfile.File{}, "", ""},
		{nil, ":1", ":1"},
	} {
		if got := MetricsAddr(c.f, c.flag); got != c.want {
			t.Errorf("MetricsAddr(%+v, %q) = %q, want %q", c.f, c.flag, got, c.want)
		}
	}
}

// TestMetricsServedUntilClose: a stack started with MetricsAddr serves
// its metrics until Close; one started without serves none.
func TestMetricsServedUntilClose(t *testing.T) {
	path := writeVolfile(t, "volume \"b\" {\n  type = \"posix\"\n  directory = \""+t.TempDir()+"\"\n}\nmetrics {\n  address = \"127.0.0.1:0\"\n}\n")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Metrics != nil {
		t.Errorf("metrics served from the volfile's block without a daemon asking")
	}
	st.Close()
	st, err = Open(path, Options{MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(st.Metrics.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", st.Metrics.URL(), resp.Status)
	}
	url := st.Metrics.URL()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("metrics still served after Close")
	}
}
