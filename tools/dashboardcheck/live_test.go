package dashboardcheck

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Labels Prometheus attaches to every scraped series; the exposition does
// not carry them.
var targetLabels = []string{"job", "instance"}

// Metrics Prometheus itself records about a scrape, not part of the
// exposition; the alert rules may use them.
var prometheusMetrics = []string{"up"}

// checkAgainstExposition reports every way e does not fit the live
// exposition: a metric it does not expose, a label it does not carry, an le
// value it does not write, and (for dashboards, requireFilters) a selector
// that does not apply the $ou and $country variables to a metric with those
// labels.
func checkAgainstExposition(e parser.Expr, families map[string]*Family, requireFilters bool) []string {
	var problems []string
	// familiesUnder collects the families a subtree selects, for checking
	// the labels of by (...), on (...) and group_left (...).
	familiesUnder := func(n parser.Node) []*Family {
		var out []*Family
		parser.Inspect(n, func(c parser.Node, _ []parser.Node) error {
			if vs, ok := c.(*parser.VectorSelector); ok {
				if name, err := MetricName(vs); err == nil {
					if _, f, ok := FamilyOf(name, families); ok {
						out = append(out, f)
					}
				}
			}
			return nil
		})
		return out
	}
	labelKnown := func(label string, fs []*Family) bool {
		if slices.Contains(targetLabels, label) || label == labels.BucketLabel {
			return true
		}
		for _, f := range fs {
			if f.Labels[label] {
				return true
			}
		}
		return false
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name, err := MetricName(n)
			if err != nil {
				problems = append(problems, err.Error())
				return nil
			}
			if slices.Contains(prometheusMetrics, name) && !requireFilters {
				return nil
			}
			fam, f, ok := FamilyOf(name, families)
			if !ok {
				problems = append(problems, fmt.Sprintf("metric %s is not exposed by the exporter", name))
				return nil
			}
			for _, m := range n.LabelMatchers {
				switch {
				case m.Name == labels.MetricName || slices.Contains(targetLabels, m.Name):
				case m.Name == labels.BucketLabel:
					if _, ok := f.LE[m.Value]; !ok && m.Type == labels.MatchEqual {
						problems = append(problems, fmt.Sprintf("%s: le=%q is not a bucket of %s (buckets: %v)", n, m.Value, fam, SortedKeys(f.LE)))
					}
				case !f.Labels[m.Name]:
					problems = append(problems, fmt.Sprintf("%s: %s has no label %q", n, fam, m.Name))
				}
			}
			if requireFilters {
				for _, l := range []string{"ou", "country"} {
					if f.Labels[l] && !hasMatcher(n, l, labels.MatchRegexp, "$"+l) {
						problems = append(problems, fmt.Sprintf("%s: %s has the label %s but the selector lacks %s=~\"$%s\"", n, fam, l, l, l))
					}
				}
			}
		case *parser.AggregateExpr:
			if n.Without {
				return nil
			}
			fs := familiesUnder(n.Expr)
			for _, l := range n.Grouping {
				if !labelKnown(l, fs) {
					problems = append(problems, fmt.Sprintf("%s: no metric aggregated here has the label %q", n, l))
				}
			}
		case *parser.BinaryExpr:
			if n.VectorMatching == nil {
				return nil
			}
			lhs, rhs := familiesUnder(n.LHS), familiesUnder(n.RHS)
			if n.VectorMatching.On {
				for _, l := range n.VectorMatching.MatchingLabels {
					if !labelKnown(l, lhs) || !labelKnown(l, rhs) {
						problems = append(problems, fmt.Sprintf("%s: on (%s) is not a label of both sides", n, l))
					}
				}
			}
			// group_left copies labels from the right side, group_right from the left.
			one := rhs
			if n.VectorMatching.Card == parser.CardOneToMany {
				one = lhs
			}
			for _, l := range n.VectorMatching.Include {
				if !labelKnown(l, one) {
					problems = append(problems, fmt.Sprintf("%s: the label %q to copy is not on the other side", n, l))
				}
			}
		}
		return nil
	})
	return problems
}

func TestDashboardUsesExposedMetrics(t *testing.T) {
	families := liveMetrics(t)
	d := loadDashboard(t)
	for _, pt := range d.Targets() {
		e, err := ParseQuery(pt.Target.Expr, SentinelValues)
		if err != nil {
			t.Errorf("%s: %v", pt.Name(), err)
			continue
		}
		for _, p := range checkAgainstExposition(e, families, true) {
			t.Errorf("%s: %s", pt.Name(), p)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := v.QueryString()
		if err != nil {
			t.Error(err)
			continue
		}
		vs, label, err := ParseLabelValues(q, SentinelValues)
		if err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
			continue
		}
		for _, p := range checkAgainstExposition(vs, families, false) {
			t.Errorf("variable %s: %s", v.Name, p)
		}
		name, _ := MetricName(vs)
		if _, f, ok := FamilyOf(name, families); ok && !f.Labels[label] && !slices.Contains(targetLabels, label) {
			t.Errorf("variable %s: %s has no label %q to list", v.Name, name, label)
		}
	}
}

func TestAlertRulesUseExposedMetrics(t *testing.T) {
	families := liveMetrics(t)
	for _, r := range loadRules(t) {
		e, err := promql.ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
			continue
		}
		for _, p := range checkAgainstExposition(e, families, false) {
			t.Errorf("%s: %s", r.Alert, p)
		}
	}
}

// TestExpositionCheckFindsMistakes feeds the check deliberate mistakes on a
// small hand-written exposition, so a check that stopped looking would fail
// here rather than pass everything.
func TestExpositionCheckFindsMistakes(t *testing.T) {
	families, err := ParseExposition([]byte(`# TYPE safeconsole_devices gauge
safeconsole_devices{ou="00.default",country="Sweden",version="5.0.1",status="in_use"} 3
# TYPE safeconsole_devices_last_seen_age_seconds histogram
safeconsole_devices_last_seen_age_seconds_bucket{ou="00.default",country="Sweden",version="5.0.1",le="3600"} 1
safeconsole_devices_last_seen_age_seconds_bucket{ou="00.default",country="Sweden",version="5.0.1",le="2.592e+06"} 2
safeconsole_devices_last_seen_age_seconds_bucket{ou="00.default",country="Sweden",version="5.0.1",le="+Inf"} 3
safeconsole_devices_last_seen_age_seconds_sum{ou="00.default",country="Sweden",version="5.0.1"} 99
safeconsole_devices_last_seen_age_seconds_count{ou="00.default",country="Sweden",version="5.0.1"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	const f = `job=~"$job", instance=~"$instance", ou=~"$ou", country=~"$country"`
	cases := []struct {
		expr string
		bad  bool
	}{
		{`sum by (status) (safeconsole_devices{` + f + `})`, false},
		{`sum(safeconsole_devices_last_seen_age_seconds_count{` + f + `}) - sum(safeconsole_devices_last_seen_age_seconds_bucket{` + f + `, le="2.592e+06"})`, false},
		{`sum(safeconsole_devices_total{` + f + `})`, true},                                                      // not exposed
		{`sum(safeconsole_devices_last_seen_age_seconds_bucket{` + f + `, le="2592000"})`, true},                 // le as nobody writes it
		{`sum(safeconsole_devices{` + f + `, model="x"})`, true},                                                 // no such label
		{`sum by (model) (safeconsole_devices{` + f + `})`, true},                                                // grouping by a missing label
		{`sum(safeconsole_devices{job=~"$job", instance=~"$instance", ou=~"$ou"})`, true},                        // country not applied
		{`safeconsole_devices{` + f + `} * on (serial) group_left (model) safeconsole_devices{` + f + `}`, true}, // on/group_left labels missing
	}
	for _, c := range cases {
		e, err := ParseQuery(c.expr, SentinelValues)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if problems := checkAgainstExposition(e, families, true); (len(problems) > 0) != c.bad {
			t.Errorf("%s: problems %v, want problems: %v", c.expr, problems, c.bad)
		}
	}
}
