package dashboardcheck

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

func TestExpand(t *testing.T) {
	values := map[string]string{"job": "safeconsole", "__rate_interval": "5m"}
	cases := []struct {
		in, want string
		fails    bool
	}{
		{in: `up{job=~"$job"}`, want: `up{job=~"safeconsole"}`},
		{in: `up{job=~"${job}"}`, want: `up{job=~"safeconsole"}`},
		{in: `up{job=~"${job:regex}"}`, want: `up{job=~"safeconsole"}`},
		{in: `up{job=~"[[job]]"}`, want: `up{job=~"safeconsole"}`},
		{in: `rate(x[$__rate_interval])`, want: `rate(x[5m])`},
		{in: `up{job=~"$jobs"}`, fails: true},
		{in: `up{instance=~"$instance"}`, fails: true},
	}
	for _, c := range cases {
		got, err := Expand(c.in, values)
		if c.fails {
			if err == nil {
				t.Errorf("Expand(%q) = %q, want an error for the unknown variable", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestSentinelsSurviveParsing(t *testing.T) {
	e, err := ParseQuery(`rate(x{job=~"$job"}[$__rate_interval])`, SentinelValues)
	if err != nil {
		t.Fatal(err)
	}
	ms := e.(*parser.Call).Args[0].(*parser.MatrixSelector)
	want, _ := time.ParseDuration(SentinelRateInterval)
	if ms.Range != want {
		t.Errorf("range = %v, want the $__rate_interval sentinel %v", ms.Range, want)
	}
	if !hasMatcher(ms.VectorSelector.(*parser.VectorSelector), "job", labels.MatchRegexp, "$job") {
		t.Errorf("the $job matcher did not survive: %s", e)
	}
}

func TestParseLabelValues(t *testing.T) {
	vs, label, err := ParseLabelValues(`label_values(safeconsole_devices{job=~"$job"}, ou)`, SentinelValues)
	if err != nil || label != "ou" || vs.Name != "safeconsole_devices" {
		t.Errorf("got %v %q %v", vs, label, err)
	}
	for _, bad := range []string{`query_result(up)`, `label_values(sum(up), job)`, `label_values(up{, job)`} {
		if _, _, err := ParseLabelValues(bad, SentinelValues); err == nil {
			t.Errorf("ParseLabelValues(%q) accepted it", bad)
		}
	}
}

func TestFamilyOf(t *testing.T) {
	families := map[string]*Family{
		"h": {Type: "histogram"},
		"s": {Type: "summary"},
		"g": {Type: "gauge"},
	}
	for name, want := range map[string]string{"h_bucket": "h", "h_count": "h", "h_sum": "h", "s_count": "s", "g": "g"} {
		if got, _, ok := FamilyOf(name, families); !ok || got != want {
			t.Errorf("FamilyOf(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"s_bucket", "g_count", "x"} {
		if got, _, ok := FamilyOf(name, families); ok {
			t.Errorf("FamilyOf(%q) = %q, want no family", name, got)
		}
	}
}
