package collector

import "testing"

func TestVersionCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"6.10", "6.9", 1},
		{"6.9.10", "6.9.9", 1},
		{"6.10", "6.10.0", 0},
		{"6.10.0.0", "6.10", 0},
		{"1.4.2", "1.4.10", -1},
		{"5", "5.0.1", -1},
		{"10.0", "9.99.99", 1},
	} {
		a, okA := parseVersion(tc.a)
		b, okB := parseVersion(tc.b)
		if !okA || !okB {
			t.Fatalf("parseVersion(%q/%q) refused", tc.a, tc.b)
		}
		if got := a.compare(b); got != tc.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.compare(a); got != -tc.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
	for _, bad := range []string{"", "v6", "6.x", "6..1", ".6", "6.", "1.2.3.4.5.6.7.8.9", "6.10-beta", "99999999999", "-1"} {
		if _, ok := parseVersion(bad); ok {
			t.Errorf("parseVersion(%q) accepted it", bad)
		}
	}
	if err := ParseMinimumVersion("6.x"); err == nil {
		t.Errorf("ParseMinimumVersion accepted 6.x")
	}
}
