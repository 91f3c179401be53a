package safeconsole

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxReportedTotal bounds the `total` a server may report. Beyond it the
// answer is treated as hostile rather than paged through: the largest known
// installations hold tens of thousands of drives.
const MaxReportedTotal = 10_000_000

// Page is one decoded answer of the list action. Users and Devices are flat
// slices so that a decoder can reuse them from page to page; Device.User
// indexes Users.
type Page struct {
	Total   int64
	Users   []User
	Devices []Device
}

// User is the part of a list entry (a SafeConsole user) the exporter needs.
type User struct {
	ID int64
	// OU is the numeric organisational unit id; HasOU is false when the
	// entry carried none.
	OU    int64
	HasOU bool
	// Country is the user's geolocation country, "" when unknown.
	Country string
}

// Device is the part of a safestick the exporter needs.
type Device struct {
	User    int // index into Page.Users
	Serial  string
	Status  string // as sent, e.g. "DISABLED"; "" when absent
	Version string // "" when absent
	Country string // the drive's geolocation country, "" when absent
	Owner   string // only filled when the decoder was asked for it
	Online  bool
	Updated bool
	// LastUsed is Unix seconds; Used is false for a drive never used.
	LastUsed int64
	Used     bool
}

// Reset empties p, keeping its memory.
func (p *Page) Reset() {
	p.Total = 0
	p.Users = p.Users[:0]
	clear(p.Devices) // drop string references before reuse
	p.Devices = p.Devices[:0]
}

// ErrNotSuccess is wrapped by decoding errors for an answer that carried
// `"success": false`.
var ErrNotSuccess = errors.New(`server answered "success": false`)

// NotSuccessError carries the server's message of a `"success": false` answer.
type NotSuccessError struct {
	Message string
}

func (e *NotSuccessError) Error() string {
	if e.Message == "" {
		return ErrNotSuccess.Error()
	}
	return fmt.Sprintf("%s: %q", ErrNotSuccess, e.Message)
}

func (e *NotSuccessError) Unwrap() error { return ErrNotSuccess }

// PageDecoder decodes list answers. It is not safe for concurrent use: each
// worker owns one. Low-cardinality strings (status, version, country) are
// interned so that a fleet of drives shares a handful of copies.
type PageDecoder struct {
	// WantOwner makes the decoder keep each drive's owner e-mail, which is
	// personal data and otherwise dropped as early as possible.
	WantOwner bool

	intern map[string]string
	listScratch
}

// NewPageDecoder returns a decoder.
func NewPageDecoder(wantOwner bool) *PageDecoder {
	return &PageDecoder{WantOwner: wantOwner, intern: make(map[string]string)}
}

// maxInterned bounds the interning table against a hostile server that sends
// a distinct "version" on every drive.
const maxInterned = 4096

func (d *PageDecoder) internBytes(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = toValidUTF8(s)
	}
	if len(d.intern) < maxInterned {
		d.intern[s] = s
	}
	return s
}

// Decode parses body into p (which is reset first). It is strict about the
// fields it uses (a wrong type is an error, never a silent zero) and ignores
// every field it does not know.
func (d *PageDecoder) Decode(body []byte, p *Page) error {
	p.Reset()
	if d.intern == nil {
		d.intern = make(map[string]string)
	}
	return d.decodeList(body, p)
}

// ParseTimestamp parses SafeConsole's timestamps ("2020-08-31T19:58:14Z")
// into Unix seconds, with a fast path for that exact layout and RFC 3339
// (with offset or fraction) as the fallback.
func ParseTimestamp(b []byte) (int64, error) {
	if len(b) == 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == 'Z' {
		year, ok1 := digits(b[0:4])
		month, ok2 := digits(b[5:7])
		day, ok3 := digits(b[8:10])
		hour, ok4 := digits(b[11:13])
		minute, ok5 := digits(b[14:16])
		second, ok6 := digits(b[17:19])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 &&
			month >= 1 && month <= 12 && day >= 1 && day <= daysIn(month, year) &&
			hour < 24 && minute < 60 && second < 60 {
			return daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+second), nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, fmt.Errorf("%s is not an RFC 3339 timestamp", strconv.Quote(truncate(toValidUTF8(string(b)), 40)))
	}
	return t.Unix(), nil
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the civil-from-days inverse (Howard Hinnant's algorithm).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400 // floor division: year 0's January and February
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// DecodeOUs parses the get_ous answer into id -> path. The answer is small
// and read once a scrape, so it goes through encoding/json, whose reading of
// JSON (grammar, escapes, invalid UTF-8, a repeated member replacing the
// earlier one) is the one the list decoder matches.
func DecodeOUs(body []byte) (map[int64]string, error) {
	if err := json.Unmarshal(body, new(json.RawMessage)); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if t := rawType(body); t != "object" {
		return nil, fmt.Errorf("answer is not a JSON object but %s", t)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	switch t := rawType(top["success"]); t {
	case "true":
	case "false":
		var msg string
		if rawType(top["message"]) == "string" && json.Unmarshal(top["message"], &msg) == nil {
			// Kept whole (within reason) so that the caller can redact a
			// token the server echoes before shortening it.
			msg = toValidUTF8(msg[:min(len(msg), 4096)])
		}
		return nil, &NotSuccessError{Message: msg}
	case "":
		return nil, errors.New(`answer has no "success" field`)
	default:
		return nil, fmt.Errorf(`"success" is %s, not a boolean`, t)
	}
	rv := top["response"]
	switch t := rawType(rv); t {
	case "", "null":
		return map[int64]string{}, nil
	case "array":
	default:
		return nil, fmt.Errorf(`"response" is %s, not a list`, t)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(rv, &list); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	ous := make(map[int64]string, len(list))
	for i, ov := range list {
		if t := rawType(ov); t != "object" {
			return nil, fmt.Errorf("OU %d is %s, not an object", i, t)
		}
		var ou map[string]json.RawMessage
		if err := json.Unmarshal(ov, &ou); err != nil {
			return nil, fmt.Errorf("OU %d: %w", i, err)
		}
		idv, ok := ou["id"]
		if !ok {
			return nil, fmt.Errorf(`OU %d has no "id"`, i)
		}
		var id int64
		if t := rawType(idv); t != "number" {
			return nil, fmt.Errorf(`OU %d "id": is %s, not a number`, i, t)
		}
		// As for an int64 field: no fraction, no exponent, no overflow.
		if err := json.Unmarshal(idv, &id); err != nil {
			return nil, fmt.Errorf(`OU %d "id": %s is not a whole number in range`, i, truncate(string(idv), 40))
		}
		pv, ok := ou["path"]
		if !ok {
			return nil, fmt.Errorf(`OU %d has no "path"`, i)
		}
		var path string
		if t := rawType(pv); t != "string" {
			return nil, fmt.Errorf(`OU %d "path": is %s, not a string`, i, t)
		}
		if err := json.Unmarshal(pv, &path); err != nil {
			return nil, fmt.Errorf(`OU %d "path": %w`, i, err)
		}
		ous[id] = path // encoding/json has made it valid UTF-8
	}
	return ous, nil
}

// rawType names the type of a raw JSON value as error messages spell it;
// "" for an absent one.
func rawType(raw json.RawMessage) string {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return "object"
		case '[':
			return "array"
		case '"':
			return "string"
		case 't':
			return "true"
		case 'f':
			return "false"
		case 'n':
			return "null"
		}
		return "number"
	}
	return ""
}

// toValidUTF8 replaces invalid bytes, which a label value cannot carry:
// each one by U+FFFD, as encoding/json does, so that a string reads the
// same here as in any other Go JSON client.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
