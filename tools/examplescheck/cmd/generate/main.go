// Command generate writes the files of examples/ that are derived from other
// files of the repository (make examples-generate):
//
//	examples/kubernetes/prometheus-operator/prometheusrule.yaml  from alerts/safeconsole.rules.yml
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/safeconsole-exporter/safeconsole_exporter/tools/examplescheck"
)

func main() {
	root := flag.String("root", "..", "repository root")
	flag.Parse()
	if err := generate(*root); err != nil {
		fmt.Fprintln(os.Stderr, "examples-generate:", err)
		os.Exit(1)
	}
}

func generate(root string) error {
	rules, err := os.ReadFile(filepath.Join(root, examplescheck.RulesFile))
	if err != nil {
		return fmt.Errorf("reading the rules: %w", err)
	}
	out, err := examplescheck.RenderPrometheusRule(rules)
	if err != nil {
		return fmt.Errorf("%s: %w", examplescheck.RulesFile, err)
	}
	dst := filepath.Join(root, examplescheck.PrometheusRuleFile)
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		return fmt.Errorf("writing the PrometheusRule: %w", err)
	}
	fmt.Println("wrote", dst)
	return nil
}
