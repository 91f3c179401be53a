package collector

import (
	"math"
	"strconv"
	"testing"
)

// appendIntAsFloat must write exactly what expfmt writes for float64(v):
// strconv's shortest 'g' form.
func TestAppendIntAsFloatMatchesStrconv(t *testing.T) {
	check := func(v int64) {
		t.Helper()
		got := string(appendIntAsFloat(nil, v))
		want := strconv.FormatFloat(float64(v), 'g', -1, 64)
		if got != want {
			t.Fatalf("%d: got %q, want %q", v, got, want)
		}
	}
	for _, v := range []int64{
		0, 1, -1, 9, 10, 99999, 100000, 999999, 1000000, 1000001, 1200000, -1000000,
		1733312345, 1700000000, 1733312340, 9999999999, 10000000000, 12345678901,
		1 << 53, -(1 << 53), 1<<53 + 1, -(1<<53 + 1), math.MaxInt64, math.MinInt64,
	} {
		check(v)
	}
	// Every power of ten and its neighbours, and a spread of timestamps.
	for p := int64(1); p < math.MaxInt64/10; p *= 10 {
		check(p - 1)
		check(p)
		check(p + 1)
		check(-p)
	}
	for v := int64(1_600_000_000); v < 1_900_000_000; v += 999_983 {
		check(v)
	}
}

func FuzzAppendIntAsFloat(f *testing.F) {
	f.Add(int64(1733312345))
	f.Add(int64(-1000000))
	f.Fuzz(func(t *testing.T, v int64) {
		got := string(appendIntAsFloat(nil, v))
		if want := strconv.FormatFloat(float64(v), 'g', -1, 64); got != want {
			t.Fatalf("%d: got %q, want %q", v, got, want)
		}
	})
}

func TestAppendLabelValueEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"":             `""`,
		"plain-1.2_x":  `"plain-1.2_x"`,
		`a"b`:          `"a\"b"`,
		`a\b`:          `"a\\b"`,
		"a\nb":         `"a\nb"`,
		"Zürich":       `"Zürich"`,
		"bad\xffbyte":  "\"bad\uFFFDbyte\"",
		"tab\tand\rcr": "\"tab\tand\rcr\"",
	} {
		if got := string(appendLabelValue(nil, in)); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}
