// Package tools holds checks of the project's non-Go artefacts (dashboards,
// rules, example stacks) that need heavy dependencies the exporter itself
// must not carry, so they live in a module of their own.
package tools

import (
	// PromQL parsing for the dashboard checks.
	_ "github.com/prometheus/prometheus/promql/parser"
	// Compose file loading for the example stack checks.
	_ "github.com/compose-spec/compose-go/v2/loader"
	_ "go.yaml.in/yaml/v3"
)
