package safeconsole

import (
	"encoding/json"
	"strings"
	"testing"
)

// validityCases are documents on which a lenient parser and encoding/json
// disagree, or that exercise one rule of the grammar each.
var validityCases = []string{
	`{}`, `[]`, ` {"a" : [ 1 , 2 ] } `, "\t{\r\n}\n", `{"a":{}}`, `[[[]]]`, `[{}, {"a": []}]`,
	`{"a":"\u00e9\ud83d\ude00\ud800\"\\\/\b\f\n\r\t"}`, `{"a":"\u12"}`, `{"a":"\x"}`, `{"a":"\u12g4"}`,
	"{\"a\":\"\x01\"}", "{\"a\":\"\x7f\xff\"}", `{"a":"unterminated}`, `{"a":"ends in escape\`,
	`{"a":01}`, `{"a":-}`, `{"a":-0}`, `{"a":1.}`, `{"a":.5}`, `{"a":1.5e}`, `{"a":1.5e+}`, `{"a":1.5E-07}`,
	`{"a":+1}`, `{"a":0x10}`, `{"a":1e400}`, `{"a":-01}`, `{"a":NaN}`, `{"a":Infinity}`,
	`{"a":tru}`, `{"a":true}`, `{"a":nul}`, `{"a":null}`, `{"a":falsey}`, `{"a":True}`,
	`{"a":1,}`, `[1,]`, `[,1]`, `{,"a":1}`, `{"a" 1}`, `{"a":1 "b":2}`, `{a:1}`, `{'a':1}`, `{"a":[}`, `{"a":]`,
	`[1}`, `{"a":1]`, `{"a":1}}`, `{"a":1} x`, `{"a":1}{}`, ``, ` `, `{`, `[`, `"x"`, `1`, `null`, "{\"a\":1}\x00",
}

func TestScannerAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	for _, doc := range validityCases {
		var s jsonScanner
		s.reset([]byte(doc))
		s.skip()
		s.end()
		if got, want := s.err == nil, json.Valid([]byte(doc)); got != want {
			t.Errorf("%q: scanner valid = %v (err %v), encoding/json valid = %v", doc, got, s.err, want)
		}
	}
}

func TestScannerDepthLimit(t *testing.T) {
	for _, n := range []int{maxJSONDepth, maxJSONDepth + 1} {
		doc := strings.Repeat("[", n) + strings.Repeat("]", n)
		var s jsonScanner
		s.reset([]byte(doc))
		s.skip()
		s.end()
		if got, want := s.err == nil, json.Valid([]byte(doc)); got != want {
			t.Errorf("depth %d: scanner valid = %v (%v), encoding/json valid = %v", n, got, s.err, want)
		}
	}
}

func TestUnescapeMatchesEncodingJSON(t *testing.T) {
	for _, lit := range []string{
		`"plain"`, `""`, `"\u00e9t\u00E9"`, `"\ud83d\ude00"`, `"\ud800"`, `"\ud800x"`, `"\udc00\ud800"`,
		`"\ud800\u0041"`, `"\ud83d\ude00\ud83d"`, `"\"\\\/\b\f\n\r\t"`, `"a\u0000b"`, `"\u20ac"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
		var s jsonScanner
		s.reset([]byte(lit))
		var buf []byte
		got := string(s.str(&buf))
		if s.err != nil || got != want {
			t.Errorf("%s: got %q (%v), want %q", lit, got, s.err, want)
		}
	}
}

func TestParseWholeInt(t *testing.T) {
	for raw, want := range map[string]int64{
		"0": 0, "-0": 0, "7": 7, "-7": -7, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63,
	} {
		if got, ok := parseWholeInt([]byte(raw), true); !ok || got != want {
			t.Errorf("parseWholeInt(%s) = %d, %v", raw, got, ok)
		}
	}
	for _, raw := range []string{"9223372036854775808", "-9223372036854775809", "99999999999999999999", "18446744073709551616"} {
		if _, ok := parseWholeInt([]byte(raw), true); ok {
			t.Errorf("parseWholeInt(%s) accepted an overflow", raw)
		}
	}
}

func TestDecodeRejectsMalformedSkippedValues(t *testing.T) {
	// Fields the exporter ignores are still checked: a broken answer is
	// refused wherever the fault lies.
	for _, junk := range []string{`01`, `"\q"`, `[1,]`, `{"a" 1}`, `tru`, "\"\x01\"", `1.`} {
		body := `{"success":true,"total":1,"response":[{"id":1,"junk":` + junk + `,"safesticks":[]}]}`
		var p Page
		if err := NewPageDecoder(false).Decode([]byte(body), &p); err == nil || !strings.Contains(err.Error(), "malformed JSON") {
			t.Errorf("junk %s: Decode = %v, want malformed JSON", junk, err)
		}
	}
}

func TestDecodeMemberOrderAndRepeats(t *testing.T) {
	// "success" after "response": the refusal still wins over entry errors.
	var p Page
	err := NewPageDecoder(false).Decode([]byte(`{"response":[{"no":"id"}],"total":1,"success":false,"message":"denied"}`), &p)
	var ns *NotSuccessError
	if !errorsAs(err, &ns) || ns.Message != "denied" {
		t.Errorf("Decode = %v, want the refusal", err)
	}

	// A repeated member replaces the earlier one, as with encoding/json.
	body := `{"total":9,"success":true,"total":2,"response":[{"id":1,"safesticks":[{"serial":"OLD"}]}],
	  "response":[{"safesticks":[{"serial":"X1"}],"id":5,"id":6,"safesticks":[{"serial":"A"},{"serial":"B","version":"1","version":"2"}]},{"id":7}]}`
	if err := NewPageDecoder(false).Decode([]byte(body), &p); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if p.Total != 2 || len(p.Users) != 2 || p.Users[0].ID != 6 || p.Users[1].ID != 7 {
		t.Fatalf("users = %+v, total %d", p.Users, p.Total)
	}
	if len(p.Devices) != 2 || p.Devices[0].Serial != "A" || p.Devices[1].Serial != "B" || p.Devices[1].Version != "2" || p.Devices[1].User != 0 {
		t.Errorf("devices = %+v", p.Devices)
	}
}

func TestDecodeEscapedKeysAndValues(t *testing.T) {
	body := `{"succ\u0065ss":true,"total":1,"response":[{"i\u0064":3,"safesticks":[{"ser\u0069al":"A\u00e9\"B","version":"6.\u0031"}]}]}`
	var p Page
	if err := NewPageDecoder(false).Decode([]byte(body), &p); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(p.Devices) != 1 || p.Users[0].ID != 3 || p.Devices[0].Serial != "A\u00e9\"B" || p.Devices[0].Version != "6.1" {
		t.Errorf("page = %+v", p)
	}
}

// FuzzScannerValidity checks the scanner's grammar against encoding/json's
// on arbitrary input (go test -fuzz FuzzScannerValidity ./safeconsole/):
// the same documents must be accepted and refused, and the page decoder
// must refuse whatever is not JSON.
func FuzzScannerValidity(f *testing.F) {
	for _, doc := range validityCases {
		f.Add([]byte(doc))
	}
	f.Add([]byte(seedPage))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s jsonScanner
		s.reset(b)
		s.skip()
		s.end()
		if got, want := s.err == nil, json.Valid(b); got != want {
			t.Fatalf("%q: scanner valid = %v (%v), encoding/json valid = %v", b, got, s.err, want)
		}
		var p Page
		if err := NewPageDecoder(true).Decode(b, &p); err == nil && !json.Valid(b) {
			t.Fatalf("%q: the decoder accepted what is not JSON", b)
		}
	})
}
