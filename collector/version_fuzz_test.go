package collector

import (
	"strings"
	"testing"
)

// refParseVersion is the contract of parseVersion: 1 to 8 dot-separated
// components, each 1 to 9 ASCII digits, at most 64 bytes in all.
func refParseVersion(s string) ([]string, bool) {
	if s == "" || len(s) > 64 {
		return nil, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > maxVersionParts {
		return nil, false
	}
	for _, p := range parts {
		if p == "" || len(p) > 9 || strings.Trim(p, "0123456789") != "" {
			return nil, false
		}
	}
	return parts, true
}

// refCompare orders versions as decimal strings, without converting them:
// leading zeros do not count, a longer number is larger, and missing
// components are zero.
func refCompare(a, b []string) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		x, y := "0", "0"
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
		switch {
		case len(x) != len(y):
			if len(x) < len(y) {
				return -1
			}
			return 1
		case x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}

func TestVersionOrder(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"6.10", "6.9", 1},
		{"6.10", "6.10.0", 0},
		{"6.10.1", "6.10", 1},
		{"06.1", "6.01", 0},
		{"1.4.2", "1.10", -1},
		{"999999999", "1000000.0", 1},
		{"0", "0.0.0.0.0.0.0.0", 0},
	} {
		a, okA := parseVersion(tc.a)
		b, okB := parseVersion(tc.b)
		if !okA || !okB {
			t.Fatalf("%q or %q does not parse", tc.a, tc.b)
		}
		if got := a.compare(b); got != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.compare(a); got != -tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
	for _, bad := range []string{"", "6.x", "v6", "6..1", ".6", "6.", "+6", "-6", " 6", "6 ", "1234567890",
		"1.2.3.4.5.6.7.8.9", "６", "0x10", "1_000", strings.Repeat("1.", 32) + "1"} {
		if v, ok := parseVersion(bad); ok {
			t.Errorf("parseVersion(%q) = %v, want no numeric order", bad, v)
		}
	}
}

// FuzzVersionCompare checks that parseVersion accepts exactly the dotted
// numeric versions and that compare is a total order agreeing with the
// decimal reading: reflexive, antisymmetric and transitive on any triple.
func FuzzVersionCompare(f *testing.F) {
	for _, seed := range [][3]string{
		{"6.10", "6.9", "6.9.1"},
		{"1.4.2", "1.4.2.0", "1.4.10"},
		{"06.01", "6.1", "6.1.0.0"},
		{"999999999.999999999", "1000000000", "0"},
		{"", "6.x", "6..1"},
		{"1.2.3.4.5.6.7.8", "1.2.3.4.5.6.7.8.9", "v6"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var vs [3]firmwareVersion
		var refs [3][]string
		for i, s := range []string{a, b, c} {
			v, ok := parseVersion(s)
			ref, refOK := refParseVersion(s)
			if ok != refOK {
				t.Fatalf("parseVersion(%q) ok = %v, want %v", s, ok, refOK)
			}
			if !ok {
				return
			}
			vs[i], refs[i] = v, ref
			if got := v.compare(v); got != 0 {
				t.Fatalf("compare(%q, itself) = %d", s, got)
			}
		}
		for i := range 3 {
			for j := range 3 {
				got := vs[i].compare(vs[j])
				if want := refCompare(refs[i], refs[j]); got != want {
					t.Fatalf("compare(%v, %v) = %d, want %d", refs[i], refs[j], got, want)
				}
				if back := vs[j].compare(vs[i]); back != -got {
					t.Fatalf("not antisymmetric: compare(%v, %v) = %d, reversed %d", refs[i], refs[j], got, back)
				}
			}
		}
		for _, p := range [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
			x, y, z := vs[p[0]], vs[p[1]], vs[p[2]]
			if x.compare(y) <= 0 && y.compare(z) <= 0 && x.compare(z) > 0 {
				t.Fatalf("not transitive: %v <= %v <= %v but %v > %v", x, y, z, x, z)
			}
		}
	})
}
