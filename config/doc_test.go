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
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.Contains(doc, "### Module file") {
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
