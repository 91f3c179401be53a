package examplescheck

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

const fixtureRules = `# Top comment of the rules file: not carried over.
groups:
  - name: first
    interval: 2m
    rules:
      # Why this alert exists.
      - alert: Lost
        expr: |
          sum by (ou) (safeconsole_devices{status="lost"})
            > 0
        for: 10m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.ou }} has lost drives"
      - record: ou:safeconsole_devices:sum
        expr: sum by (ou) (safeconsole_devices)
  - name: second
    rules:
      - alert: Down
        expr: safeconsole_up == 0
        keep_firing_for: 5m
`

func TestRenderPrometheusRuleCarriesGroupsOver(t *testing.T) {
	out, err := RenderPrometheusRule([]byte(fixtureRules))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if len(docs) != 1 {
		t.Fatalf("%d documents, want 1", len(docs))
	}
	pr := docs[0]
	if got := digString(pr, "apiVersion"); got != "monitoring.coreos.com/v1" {
		t.Errorf("apiVersion %q", got)
	}
	if got := digString(pr, "kind"); got != "PrometheusRule" {
		t.Errorf("kind %q", got)
	}
	if digString(pr, "metadata", "name") == "" {
		t.Error("no metadata.name")
	}
	src, err := decodeAll([]byte(fixtureRules))
	if err != nil {
		t.Fatal(err)
	}
	if want, got := src[0]["groups"], dig(pr, "spec", "groups"); !reflect.DeepEqual(got, want) {
		t.Errorf("spec.groups differ from the rules file's groups:\n got %#v\nwant %#v", got, want)
	}
	// The multi-line expression stays a block scalar and the comment stays
	// with its rule, so the manifest reads like the rules file.
	if !bytes.Contains(out, []byte("expr: |\n")) {
		t.Errorf("block scalar lost:\n%s", out)
	}
	if !bytes.Contains(out, []byte("# Why this alert exists.")) {
		t.Errorf("rule comment lost:\n%s", out)
	}
	if bytes.Contains(out, []byte("Top comment")) {
		t.Errorf("the rules file's own header was carried over:\n%s", out)
	}
	if !bytes.HasPrefix(out, []byte("# Code generated ")) || !bytes.Contains(out, []byte("DO NOT EDIT")) {
		t.Errorf("no generated-file header:\n%s", out)
	}
}

func TestRenderPrometheusRuleRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not YAML":          "groups: [",
		"not a mapping":     "- a\n- b\n",
		"no groups":         "rules: []\n",
		"extra key":         "groups:\n  - name: g\n    rules: [{alert: A, expr: up}]\nextra: 1\n",
		"empty groups":      "groups: []\n",
		"group w/o rules":   "groups:\n  - name: g\n",
		"unknown rule key":  "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        severity: page\n",
		"unknown group key": "groups:\n  - name: g\n    eval_delay: 1m\n    rules: [{alert: A, expr: up}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := RenderPrometheusRule([]byte(in)); err == nil {
				t.Errorf("no error; rendered:\n%s", out)
			}
		})
	}
}

// The committed PrometheusRule is what the generator makes of the committed
// rules file today (else: make examples-generate).
func TestPrometheusRuleIsGenerated(t *testing.T) {
	want, err := RenderPrometheusRule(readRepoFile(t, RulesFile))
	if err != nil {
		t.Fatalf("%s: %v", RulesFile, err)
	}
	got := readRepoFile(t, PrometheusRuleFile)
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with %s: run `make examples-generate`", PrometheusRuleFile, RulesFile)
	}
}

// Independently of how the generator writes it, the PrometheusRule holds the
// same rules as alerts/, and every expression is valid PromQL.
func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	rules := decodeRepoYAML(t, RulesFile)
	pr := decodeRepoYAML(t, PrometheusRuleFile)
	if digString(pr, "kind") != "PrometheusRule" {
		t.Fatalf("%s is not a PrometheusRule", PrometheusRuleFile)
	}
	if !reflect.DeepEqual(dig(pr, "spec", "groups"), rules["groups"]) {
		t.Errorf("spec.groups of %s differ from the groups of %s", PrometheusRuleFile, RulesFile)
	}

	p := parser.NewParser(parser.Options{})
	n := 0
	for _, g := range digList(pr, "spec", "groups") {
		for _, r := range digList(g, "rules") {
			name := digString(r, "alert") + digString(r, "record")
			expr := digString(r, "expr")
			if name == "" || expr == "" {
				t.Errorf("group %s: a rule without a name or an expression", digString(g, "name"))
				continue
			}
			if _, err := p.ParseExpr(expr); err != nil {
				t.Errorf("rule %s: %v", name, err)
			}
			n++
		}
	}
	if n == 0 {
		t.Error("no rules")
	}
	if !strings.Contains(string(readRepoFile(t, PrometheusRuleFile)), "DO NOT EDIT") {
		t.Errorf("%s lacks the generated-file header", PrometheusRuleFile)
	}
}
