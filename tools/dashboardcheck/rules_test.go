package dashboardcheck

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
)

var alertName = regexp.MustCompile(`^SafeConsole[A-Z][A-Za-z0-9]*$`)

// TestAlertRuleConventions holds the rules to the monitoring-mixin
// conventions the README promises: CamelCase SafeConsole* names, a severity
// Alertmanager routes on, a summary, a description built from the alert's
// labels and value, and a runbook_url that reaches an existing section.
func TestAlertRuleConventions(t *testing.T) {
	anchors := runbookAnchors(t)
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if !alertName.MatchString(r.Alert) {
			t.Errorf("alert %q: name must be CamelCase and start with SafeConsole", r.Alert)
		}
		if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
		}
		if d, err := model.ParseDuration(r.For); err != nil || d <= 0 {
			t.Errorf("%s: for %q; every alert needs a for: so that one scrape cannot fire it", r.Alert, r.For)
		}
		if strings.TrimSpace(r.Annotations["summary"]) == "" {
			t.Errorf("%s: no summary", r.Alert)
		}
		desc := r.Annotations["description"]
		if !strings.Contains(desc, "$labels.") || !strings.Contains(desc, "$value") {
			t.Errorf("%s: description %q must use the alert's labels and value", r.Alert, desc)
		}
		url := r.Annotations["runbook_url"]
		if want := runbookURL + "#" + strings.ToLower(r.Alert); url != want {
			t.Errorf("%s: runbook_url %q, want %q", r.Alert, url, want)
		}
		if !anchors[strings.ToLower(r.Alert)] {
			t.Errorf("%s: %s has no section %q", r.Alert, runbookFile, "## "+r.Alert)
		}
		for k := range r.Annotations {
			if !slices.Contains([]string{"summary", "description", "runbook_url"}, k) {
				t.Errorf("%s: unexpected annotation %q", r.Alert, k)
			}
		}
	}
}

// TestEveryAlertIsUnitTested requires, for every alert of the rules file, a
// promtool case where it fires (with its labels and all three annotations
// spelled out) and a case where it stays silent.
func TestEveryAlertIsUnitTested(t *testing.T) {
	type coverage struct{ firing, silent int }
	cov := map[string]*coverage{}
	severities := map[string]map[string]bool{} // alert -> severities it has
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if cov[r.Alert] == nil {
			cov[r.Alert] = &coverage{}
			severities[r.Alert] = map[string]bool{}
		}
		severities[r.Alert][r.Labels["severity"]] = true
	}
	firedSeverities := map[string]map[string]bool{}
	for path, f := range loadUnitTests(t) {
		for _, group := range f.Tests {
			for _, c := range group.AlertRuleTests {
				cv, ok := cov[c.Alertname]
				if !ok {
					t.Errorf("%s (%s): tests %q, which the rules file does not define", path, group.Name, c.Alertname)
					continue
				}
				if len(c.ExpAlerts) == 0 {
					cv.silent++
					continue
				}
				cv.firing++
				for _, a := range c.ExpAlerts {
					for _, k := range []string{"summary", "description", "runbook_url"} {
						if a.ExpAnnotations[k] == "" {
							t.Errorf("%s (%s) at %s: expected %s alert lacks the %s annotation", path, group.Name, c.EvalTime, c.Alertname, k)
						}
					}
					if a.ExpLabels["severity"] == "" {
						t.Errorf("%s (%s) at %s: expected %s alert lacks its severity label", path, group.Name, c.EvalTime, c.Alertname)
					}
					if firedSeverities[c.Alertname] == nil {
						firedSeverities[c.Alertname] = map[string]bool{}
					}
					firedSeverities[c.Alertname][a.ExpLabels["severity"]] = true
				}
			}
		}
	}
	for _, name := range SortedKeys(cov) {
		cv := cov[name]
		if cv.firing == 0 {
			t.Errorf("%s: no promtool case where it fires", name)
		}
		if cv.silent == 0 {
			t.Errorf("%s: no promtool case where it stays silent", name)
		}
		for sev := range severities[name] {
			if !firedSeverities[name][sev] {
				t.Errorf("%s: its %s variant never fires in a test", name, sev)
			}
		}
	}
}

func TestGithubAnchor(t *testing.T) {
	for heading, want := range map[string]string{
		"SafeConsoleExporterDown":     "safeconsoleexporterdown",
		"Runbook: SafeConsole alerts": "runbook-safeconsole-alerts",
		"What to do (step 2)":         "what-to-do-step-2",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
}
