package safeconsole_test

// Fuzz tests of everything that reads bytes a server (or a token file)
// chose: the list page decoder, the OU decoder, the timestamp parser and
// the JWT expiry reader. Each is checked against a reference written with
// the standard library, so a finding is a disagreement, not only a panic.
//
// The decoders' contract, which the references below spell out:
//
//   - The answer must be RFC 8259 JSON exactly as encoding/json accepts it
//     (the same grammar, escapes, number syntax and nesting limit); anything
//     encoding/json rejects is rejected.
//   - Members are matched by exact name (encoding/json's case-insensitive
//     struct matching is not part of it) and a repeated member replaces the
//     earlier one, as when encoding/json decodes into a map.
//   - Strings decode as encoding/json decodes them: escapes resolved, every
//     invalid UTF-8 byte and every unpaired surrogate escape becomes U+FFFD.
//   - Fields the exporter uses are typed strictly: a wrong type is an error,
//     never a silent zero. null stands for "absent" except where a value is
//     required (success, total, id, serial, an OU's id and path).
//   - Whole numbers must be JSON integers within int64 (no fraction, no
//     exponent), as encoding/json requires of an int64 field; "total" must
//     also lie within 0..MaxReportedTotal, beyond which an answer is deemed
//     hostile.
//   - Fields the exporter does not know are validated as JSON and ignored.
//
// Where both accept, every extracted field must agree exactly; where one
// rejects, so must the other.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
)

// refUser and refDevice are what the reference decoder extracts; they
// mirror safeconsole.User and safeconsole.Device.
type refUser struct {
	ID      int64
	OU      int64
	HasOU   bool
	Country string
}

type refPage struct {
	Total   int64
	Users   []refUser
	Devices []safeconsole.Device
	// NotSuccess is set for a `"success": false` answer, with its message.
	NotSuccess *refMessageT
}

var errRef = errors.New("reference decoder refuses")

// jsonKind is the first byte of a raw JSON value, which names its type.
func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	default:
		return '0' // a number
	}
}

// refObject decodes a raw JSON object into its members (last one wins).
func refObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if jsonKind(raw) != '{' {
		return nil, errRef
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func refArray(raw json.RawMessage) ([]json.RawMessage, error) {
	if jsonKind(raw) != '[' {
		return nil, errRef
	}
	var a []json.RawMessage
	return a, json.Unmarshal(raw, &a)
}

func refInt(raw json.RawMessage) (int64, error) {
	if jsonKind(raw) != '0' {
		return 0, errRef
	}
	var n int64
	return n, json.Unmarshal(raw, &n)
}

func refString(raw json.RawMessage) (string, error) {
	if jsonKind(raw) != '"' {
		return "", errRef
	}
	var s string
	return s, json.Unmarshal(raw, &s)
}

// refOptionalString: absent, null and "" are all "".
func refOptionalString(raw json.RawMessage, present bool) (string, error) {
	if !present || jsonKind(raw) == 'n' {
		return "", nil
	}
	return refString(raw)
}

func refOptionalBool(raw json.RawMessage, present bool) (bool, error) {
	if !present {
		return false, nil
	}
	switch jsonKind(raw) {
	case 'n', 'f':
		return false, nil
	case 't':
		return true, nil
	}
	return false, errRef
}

// refCountry reads geolocation.country.
func refCountry(raw json.RawMessage, present bool) (string, error) {
	if !present || jsonKind(raw) == 'n' {
		return "", nil
	}
	geo, err := refObject(raw)
	if err != nil {
		return "", err
	}
	c, ok := geo["country"]
	return refOptionalString(c, ok)
}

// refTimestamp reads lastUsed: absent, null and "" mean never used.
func refTimestamp(raw json.RawMessage, present bool) (int64, bool, error) {
	s, err := refOptionalString(raw, present)
	if err != nil || s == "" {
		return 0, false, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, false, err
	}
	return t.Unix(), true, nil
}

// refMessage is the message of a `"success": false` answer as the decoder
// keeps it, when it is short: a longer one is cut to 4096 bytes before its
// invalid bytes are replaced, which encoding/json cannot say, so for it
// long is true and only its validity is checked.
func refMessage(top map[string]json.RawMessage) (msg string, long bool) {
	m, err := refString(top["message"])
	if err != nil {
		return "", false
	}
	return m, len(m) > 4096
}

// checkMessage compares a kept message with the reference's.
func checkMessage(t *testing.T, got string, want *refMessageT) {
	t.Helper()
	if want.long {
		if !utf8.ValidString(got) || len(got) > 3*4096 {
			t.Fatalf("long message kept as %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
		}
		return
	}
	if got != want.msg {
		t.Fatalf("NotSuccess message = %q, want %q", got, want.msg)
	}
}

type refMessageT struct {
	msg  string
	long bool
}

// refSuccess applies the "success" rule shared by both answers.
func refSuccess(top map[string]json.RawMessage) (*refMessageT, error) {
	sv, ok := top["success"]
	if !ok {
		return nil, errRef
	}
	switch jsonKind(sv) {
	case 't':
		return nil, nil
	case 'f':
		msg, long := refMessage(top)
		return &refMessageT{msg, long}, nil
	}
	return nil, errRef
}

// refDecodePage is the contract of PageDecoder.Decode written with
// encoding/json.
func refDecodePage(body []byte, wantOwner bool) (*refPage, error) {
	if !json.Valid(body) {
		return nil, errRef
	}
	top, err := refObject(body)
	if err != nil {
		return nil, err
	}
	p := &refPage{}
	if p.NotSuccess, err = refSuccess(top); err != nil || p.NotSuccess != nil {
		return p, err
	}
	tv, ok := top["total"]
	if !ok {
		return nil, errRef
	}
	if p.Total, err = refInt(tv); err != nil {
		return nil, err
	}
	if p.Total < 0 || p.Total > safeconsole.MaxReportedTotal {
		return nil, errRef
	}
	rv, ok := top["response"]
	if !ok || jsonKind(rv) == 'n' {
		return p, nil
	}
	entries, err := refArray(rv)
	if err != nil {
		return nil, err
	}
	for _, ev := range entries {
		e, err := refObject(ev)
		if err != nil {
			return nil, err
		}
		var u refUser
		idv, ok := e["id"]
		if !ok {
			return nil, errRef
		}
		if u.ID, err = refInt(idv); err != nil {
			return nil, err
		}
		if ov, ok := e["ou"]; ok && jsonKind(ov) != 'n' {
			if u.OU, err = refInt(ov); err != nil {
				return nil, err
			}
			u.HasOU = true
		}
		gv, ok := e["geolocation"]
		if u.Country, err = refCountry(gv, ok); err != nil {
			return nil, err
		}
		userIdx := len(p.Users)
		p.Users = append(p.Users, u)
		sv, ok := e["safesticks"]
		if !ok || jsonKind(sv) == 'n' {
			continue
		}
		sticks, err := refArray(sv)
		if err != nil {
			return nil, err
		}
		for _, dv := range sticks {
			d, err := refObject(dv)
			if err != nil {
				return nil, err
			}
			dev := safeconsole.Device{User: userIdx}
			serial, ok := d["serial"]
			if !ok {
				return nil, errRef
			}
			if dev.Serial, err = refString(serial); err != nil || dev.Serial == "" {
				return nil, errRef
			}
			v, ok := d["safeStickStatus"]
			if dev.Status, err = refOptionalString(v, ok); err != nil {
				return nil, err
			}
			v, ok = d["version"]
			if dev.Version, err = refOptionalString(v, ok); err != nil {
				return nil, err
			}
			v, ok = d["isOnline"]
			if dev.Online, err = refOptionalBool(v, ok); err != nil {
				return nil, err
			}
			v, ok = d["isUpdated"]
			if dev.Updated, err = refOptionalBool(v, ok); err != nil {
				return nil, err
			}
			v, ok = d["lastUsed"]
			if dev.LastUsed, dev.Used, err = refTimestamp(v, ok); err != nil {
				return nil, err
			}
			v, ok = d["geolocation"]
			if dev.Country, err = refCountry(v, ok); err != nil {
				return nil, err
			}
			// The owner is decoration, kept only when asked for and only
			// when it is a string.
			if v, ok := d["owner"]; ok && wantOwner && jsonKind(v) == '"' {
				dev.Owner, _ = refString(v)
			}
			p.Devices = append(p.Devices, dev)
		}
	}
	return p, nil
}

// refDecodeOUs is the contract of DecodeOUs.
func refDecodeOUs(body []byte) (map[int64]string, *refMessageT, error) {
	if !json.Valid(body) {
		return nil, nil, errRef
	}
	top, err := refObject(body)
	if err != nil {
		return nil, nil, err
	}
	ns, err := refSuccess(top)
	if err != nil || ns != nil {
		return nil, ns, err
	}
	out := map[int64]string{}
	rv, ok := top["response"]
	if !ok || jsonKind(rv) == 'n' {
		return out, nil, nil
	}
	list, err := refArray(rv)
	if err != nil {
		return nil, nil, err
	}
	for _, ov := range list {
		o, err := refObject(ov)
		if err != nil {
			return nil, nil, err
		}
		idv, ok := o["id"]
		if !ok {
			return nil, nil, errRef
		}
		id, err := refInt(idv)
		if err != nil {
			return nil, nil, err
		}
		pv, ok := o["path"]
		if !ok {
			return nil, nil, errRef
		}
		path, err := refString(pv)
		if err != nil {
			return nil, nil, err
		}
		out[id] = path
	}
	return out, nil, nil
}

// checkPage compares Decode with the reference on one input.
func checkPage(t *testing.T, body []byte, wantOwner bool) {
	t.Helper()
	want, refErr := refDecodePage(body, wantOwner)
	var got safeconsole.Page
	err := safeconsole.NewPageDecoder(wantOwner).Decode(body, &got)

	var ns *safeconsole.NotSuccessError
	switch {
	case refErr != nil && err == nil:
		t.Fatalf("Decode accepted what the contract refuses (%v):\n%q\ngot %+v", refErr, body, got)
	case refErr != nil:
		if !utf8.ValidString(err.Error()) {
			t.Errorf("error message is not valid UTF-8: %q", err)
		}
		return
	case want.NotSuccess != nil:
		if !errors.As(err, &ns) {
			t.Fatalf("Decode = %v, want a NotSuccessError for:\n%q", err, body)
		}
		checkMessage(t, ns.Message, want.NotSuccess)
		return
	case err != nil:
		t.Fatalf("Decode refused what the contract accepts: %v\n%q", err, body)
	}

	if got.Total != want.Total {
		t.Errorf("Total = %d, want %d", got.Total, want.Total)
	}
	if len(got.Users) != len(want.Users) || len(got.Devices) != len(want.Devices) {
		t.Fatalf("decoded %d users, %d drives; want %d, %d\n%q", len(got.Users), len(got.Devices), len(want.Users), len(want.Devices), body)
	}
	for i, u := range got.Users {
		if w := want.Users[i]; u.ID != w.ID || u.OU != w.OU || u.HasOU != w.HasOU || u.Country != w.Country {
			t.Errorf("user %d = %+v, want %+v", i, u, w)
		}
	}
	for i, d := range got.Devices {
		if d != want.Devices[i] {
			t.Errorf("drive %d = %+v\nwant %+v", i, d, want.Devices[i])
		}
		for _, s := range []string{d.Serial, d.Status, d.Version, d.Country, d.Owner} {
			if !utf8.ValidString(s) {
				t.Errorf("drive %d carries invalid UTF-8 %q", i, s)
			}
		}
	}
	if t.Failed() {
		t.Logf("input: %q", body)
	}
}

// pageSeeds are list answers worth starting from: the vendor's shape, the
// simulator's, and the edges of the contract.
var pageSeeds = []string{
	`{"total":1,"success":true,"response":[{"last_ip":"","ou":1,"last_login":"2020-08-31T19:58:14Z","isUpdated":false,"cn":"","safesticks":[{"owner":"a@example.com","safeStickStatus":"DISABLED","lastUsed":"2020-08-31T19:58:14Z","serialBarcode":"BBBB","serial":"BBBB","isUpdated":true,"isOnline":false,"version":"1.4.2","geolocation":{"date":"2020-08-31T19:58:14Z","ip_end":"000000007F000001","country":"Atlantic Ocean"}}],"id":1,"email":"","geolocation":{"country":"Atlantic Ocean"}}]}`,
	`{"total":2,"success":true,"response":[{"id":1,"ou":null,"safesticks":null},{"id":2,"ou":3,"geolocation":null,"safesticks":[{"serial":"S1","lastUsed":"","version":null},{"serial":"S2","lastUsed":null,"isOnline":true,"safeStickStatus":"IN_USE"}]}]}`,
	`{"total":0,"success":true,"response":[]}`,
	`{"total":0,"success":true}`,
	`{"success":false,"message":"Invalid action"}`,
	`{"success":false,"message":null}`,
	`{"total":1,"success":true,"total":2,"response":[]}`,
	`{"total":1,"success":true,"response":[{"id":1,"id":2}]}`,
	`{"total":1,"success":true,"response":[{"id":1,"safesticks":[{"serial":"A"}],"safesticks":[{"serial":"B"}]}]}`,
	`{"total":1,"success":true,"response":[{"id":1,"safesticks":[{"serial":"\u0041\ud83d\ude00\ud800x","version":"\u00e9"}]}]}`,
	"{\"total\":1,\"success\":true,\"response\":[{\"id\":1,\"safesticks\":[{\"serial\":\"a\xffb\xe2\x82c\"}]}]}",
	`{"total":1e2,"success":true,"response":[]}`,
	`{"total":1.0,"success":true,"response":[]}`,
	`{"total":-0,"success":true,"response":[]}`,
	`{"total":9223372036854775808,"success":true,"response":[]}`,
	`{"total":01,"success":true,"response":[]}`,
	`{"Total":1,"success":true,"response":[]}`,
	`{"total":1,"success":true,"response":[{"id":1,"safesticks":[{"serial":"A","lastUsed":"2020-02-30T00:00:00Z"}]}]}`,
	`{"total":1,"success":true,"response":[{"id":1,"safesticks":[{"serial":"A","lastUsed":"0000-01-01T00:00:00Z"}]}]}`,
	`{"total":1,"success":true,"response":[{"id":1,"safesticks":[{"serial":"A","lastUsed":"2020-08-31T19:58:14.5+02:00"}]}]}`,
	`{"total":1,"success":true,"response":[{"id":1,"x":[[[[[[[[[[{}]]]]]]]]]],"safesticks":[{"serial":"A","isUpdated":"yes"}]}]}`,
	`{"total":1,"success":true,"response":[{"id":1,"x":NaN}]}`,
	"{\"total\":1,\"success\":true,\"response\":[{\"id\":1,\"x\":\"a\x01\\n\"}]}",
	`{"total":1,"success":true,"response":[{"id":1,"x":"\x"}]}`,
	`  {"total":1,"success":true,"response":[{"id":1}]}  `,
	`{"total":1,"success":true,"response":[{"id":1}]} x`,
	`null`,
	`[]`,
}

func FuzzPageDecoder(f *testing.F) {
	for _, s := range pageSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, wantOwner bool) {
		checkPage(t, body, wantOwner)
		// A decoder is reused from page to page: a second, different
		// answer through the same decoder and Page must not see the first.
		d := safeconsole.NewPageDecoder(wantOwner)
		var p safeconsole.Page
		_ = d.Decode(body, &p)
		const next = `{"total":1,"success":true,"response":[{"id":7,"safesticks":[{"serial":"Z"}]}]}`
		if err := d.Decode([]byte(next), &p); err != nil || len(p.Users) != 1 || len(p.Devices) != 1 ||
			p.Users[0].ID != 7 || p.Devices[0] != (safeconsole.Device{Serial: "Z"}) {
			t.Fatalf("after %q, a reused decoder read the next page as %+v, %v", body, p, err)
		}
	})
}

func FuzzDecodeOUs(f *testing.F) {
	for _, s := range []string{
		`{"success":true,"response":[{"id":1,"path":"00.default"},{"id":8,"path":"08.zonebuild"}]}`,
		`{"success":true,"response":[{"id":1,"path":"a"},{"id":1,"path":"b"}]}`,
		`{"success":true,"response":null}`,
		`{"success":true}`,
		`{"success":false,"message":"no"}`,
		`{"success":true,"response":[{"id":1,"path":null}]}`,
		`{"success":true,"response":[{"id":"1","path":"x"}]}`,
		`{"success":true,"response":[{"id":1.5,"path":"x"}]}`,
		`{"success":true,"response":[{"id":1,"path":"\ud800"}]}`,
		"{\"success\":true,\"response\":[{\"id\":1,\"path\":\"\xc3\"}]}",
		`{"success":true,"response":{"id":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantNS, refErr := refDecodeOUs(body)
		got, err := safeconsole.DecodeOUs(body)
		var ns *safeconsole.NotSuccessError
		switch {
		case refErr != nil:
			if err == nil {
				t.Fatalf("DecodeOUs accepted what the contract refuses:\n%q\ngot %v", body, got)
			}
		case wantNS != nil:
			if !errors.As(err, &ns) {
				t.Fatalf("DecodeOUs = %v, want NotSuccess %q", err, wantNS.msg)
			}
			checkMessage(t, ns.Message, wantNS)
		case err != nil:
			t.Fatalf("DecodeOUs refused what the contract accepts: %v\n%q", err, body)
		default:
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("DecodeOUs = %v, want %v\n%q", got, want, body)
			}
		}
	})
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2020-08-31T19:58:14Z", "2020-08-31T19:58:14.123456789Z", "2020-08-31T19:58:14+02:00",
		"2020-02-29T00:00:00Z", "2019-02-29T00:00:00Z", "2020-13-01T00:00:00Z", "2020-12-31T24:00:00Z",
		"2020-12-31T23:59:60Z", "0000-01-01T00:00:00Z", "0000-03-01T00:00:00Z", "0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2020-08-31t19:58:14z",
		"2020-08-31 19:58:14Z", "2020-08-31T19:58:14", "", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := safeconsole.ParseTimestamp([]byte(s))
		want, refErr := time.Parse(time.RFC3339, s)
		switch {
		case refErr == nil && err != nil:
			t.Fatalf("ParseTimestamp(%q) refused a valid RFC 3339 time: %v", s, err)
		case refErr != nil && err == nil:
			t.Fatalf("ParseTimestamp(%q) = %d, but time.Parse refuses it: %v", s, got, refErr)
		case refErr == nil && got != want.Unix():
			t.Fatalf("ParseTimestamp(%q) = %d, want %d", s, got, want.Unix())
		case err != nil && !utf8.ValidString(err.Error()):
			t.Fatalf("error message is not valid UTF-8: %q", err)
		}
	})
}

// refJWTExpiry is a straightforward reading of a JWT's exp claim: the
// payload segment, base64url (padding tolerated), a JSON object whose member
// named exactly "exp" is a JSON number of seconds in (0, 1e11].
func refJWTExpiry(token string) (float64, bool) {
	if len(token) > 64<<10 {
		return 0, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[1] == "" {
		return 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return 0, false
	}
	claims, err := refObject(payload)
	if err != nil || !json.Valid(payload) {
		return 0, false
	}
	raw, ok := claims["exp"]
	if !ok || jsonKind(raw) != '0' {
		return 0, false
	}
	var exp float64
	if err := json.Unmarshal(raw, &exp); err != nil || !(exp > 0 && exp <= 1e11) {
		return 0, false
	}
	return exp, true
}

func checkJWT(t *testing.T, token string) {
	t.Helper()
	got, ok := safeconsole.JWTExpiry(token)
	want, wantOK := refJWTExpiry(token)
	if ok != wantOK {
		t.Fatalf("JWTExpiry(%q) ok = %v, want %v", token, ok, wantOK)
	}
	if !ok {
		return
	}
	if got.Location() != time.UTC {
		t.Errorf("expiry %v is not in UTC", got)
	}
	// Whole seconds exactly; a fraction to within a microsecond.
	whole, frac := math.Floor(want), want-math.Floor(want)
	if got.Unix() != int64(whole) || math.Abs(float64(got.Nanosecond())/1e9-frac) > 1e-6 {
		t.Fatalf("JWTExpiry(%q) = %v, want %f", token, got, want)
	}
}

func FuzzJWTExpiry(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, payload := range []string{
		`{"exp":1798761600,"roles":["system_support"]}`, `{"exp":1798761600.5}`, `{"exp":"1798761600"}`,
		`{"EXP":1798761600}`, `{"Exp":1,"exp":2}`, `{"exp":2,"exp":1}`, `{"exp":-1}`, `{"exp":0}`, `{"exp":1e11}`,
		`{"exp":100000000001}`, `{"exp":1e400}`, `{"exp":null}`, `{"exp":true}`, `[1]`, `null`, `{"exp":1}x`, ``,
	} {
		f.Add([]byte(payload), "h."+enc([]byte(payload))+".s")
	}
	f.Add([]byte{}, "a.b.c")
	f.Add([]byte{}, "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTg3NjE2MDB9==.sig")
	f.Fuzz(func(t *testing.T, payload []byte, raw string) {
		// Any string as a token, and the payload inside a JWT's frame so
		// that the claims reader sees JSON-shaped input.
		checkJWT(t, raw)
		checkJWT(t, "h."+enc(payload)+".s")
	})
}
