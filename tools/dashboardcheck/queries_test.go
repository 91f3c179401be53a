package dashboardcheck

import (
	"testing"
)

// TestPromtoolCasesMatchDashboard keeps the dashboard and its promtool test
// (alerts/tests/dashboard_queries_test.yml) in step: every dashboard query,
// with the variables set as that test sets them, has an evaluation case with
// expected numbers, and every case there is a query of the dashboard. A query
// edited in one place and not the other fails here.
func TestPromtoolCasesMatchDashboard(t *testing.T) {
	dashboard := map[string]string{} // normalized query -> where
	for _, pt := range loadDashboard(t).Targets() {
		expanded, err := Expand(pt.Target.Expr, ConcreteValues)
		if err != nil {
			t.Errorf("%s: %v", pt.Name(), err)
			continue
		}
		norm, err := Normalize(expanded)
		if err != nil {
			t.Errorf("%s: %v", pt.Name(), err)
			continue
		}
		dashboard[norm] = pt.Name()
	}

	files := loadUnitTests(t)
	f, ok := files[queryTestFile]
	if !ok {
		t.Fatalf("%s is missing", queryTestFile)
	}
	tested := map[string]bool{}
	for _, group := range f.Tests {
		for _, c := range group.PromQLExprTests {
			norm, err := Normalize(c.Expr)
			if err != nil {
				t.Errorf("%s: %v", queryTestFile, err)
				continue
			}
			if _, ok := dashboard[norm]; !ok {
				t.Errorf("%s tests %q, which no dashboard query is (after setting the variables)", queryTestFile, c.Expr)
			}
			if len(c.ExpSamples) == 0 {
				t.Errorf("%s: %q expects no samples; a panel test must expect numbers", queryTestFile, c.Expr)
			}
			tested[norm] = true
		}
	}
	for norm, where := range dashboard {
		if !tested[norm] {
			t.Errorf("%s: query %s has no case in %s", where, norm, queryTestFile)
		}
	}
}
