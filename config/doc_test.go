package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestEveryKeyIsDocumented keeps the README's module table complete: each
// YAML key of Module must have a row.
func TestEveryKeyIsDocumented(t *testing.T) {
	// The section lives in README.md; docs/README-probe.md holds it until it
	// is merged there.
	var doc string
	for _, path := range []string{"../README.md", "../docs/README-probe.md"} {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), "### Module file") {
			doc = string(b)
			break
		}
	}
	if doc == "" {
		t.Fatal("no README section \"### Module file\" found")
	}
	typ := reflect.TypeFor[Module]()
	keys := 0
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		keys++
		if !strings.Contains(doc, "| `"+name+"` |") {
			t.Errorf("module key %q has no row in the README's module table", name)
		}
	}
	if keys < 15 {
		t.Fatalf("found only %d YAML keys on Module", keys)
	}
}
