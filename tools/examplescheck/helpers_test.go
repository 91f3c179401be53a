package examplescheck

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the repository root as seen from this package's directory,
// where `go test` runs the tests.
const repoRoot = "../.."

func repoPath(p string) string { return filepath.Join(repoRoot, filepath.FromSlash(p)) }

func readRepoFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(p))
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return b
}

// decodeAll decodes every document of a YAML stream into generic values.
func decodeAll(b []byte) ([]map[string]any, error) {
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func decodeRepoYAML(t *testing.T, p string) map[string]any {
	t.Helper()
	docs, err := decodeAll(readRepoFile(t, p))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", p, len(docs))
	}
	return docs[0]
}

// dig walks nested mappings and lists: a string key indexes a mapping, an int
// a list. It returns nil where the path does not exist.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func digString(v any, path ...any) string {
	s, _ := dig(v, path...).(string)
	return s
}

func digList(v any, path ...any) []any {
	l, _ := dig(v, path...).([]any)
	return l
}

func digMap(v any, path ...any) map[string]any {
	m, _ := dig(v, path...).(map[string]any)
	return m
}

// subset reports whether every key of sel has the same value in labels, as a
// Kubernetes equality selector matches.
func subset(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
