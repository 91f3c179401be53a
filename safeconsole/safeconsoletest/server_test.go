package safeconsoletest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var seedUserKeys = []string{"id", "email", "cn", "ou", "last_login", "acquired_date", "last_ip", "isUpdated",
	"hasPolicy", "policyId", "policyType", "safesticks"}
var seedDeviceKeys = []string{"serial", "serialBarcode", "hardwareID", "owner", "safeStickStatus", "isOnline",
	"isUpdated", "version", "lastIP", "hasRecoveryCode"}

func TestListShape(t *testing.T) {
	s := NewServer(NewFleet(FleetOptions{Seed: 5, Devices: 300}))
	defer s.Close()
	p := list(t, s, `{"limit":1000,"start":0,"sort_by":"last_login","sort_order":"DESC","keyword":"search_all"}`)
	if !p.Success || p.Total != len(s.Fleet().Users) || len(p.Response) != p.Total {
		t.Fatalf("success %v total %d entries %d, fleet has %d users", p.Success, p.Total, len(p.Response), len(s.Fleet().Users))
	}
	var orders = map[string]bool{}
	var geoAbsent, geoNull, lastUsedAbsent, lastUsedNull, lastUsedEmpty, drives int
	for _, e := range p.Response {
		for _, k := range seedUserKeys {
			if _, ok := e[k]; !ok {
				t.Fatalf("user entry lacks %q: %v", k, e)
			}
		}
		for _, k := range []string{"policyName", "tags", "meta"} { // fields a client must skip
			if _, ok := e[k]; !ok {
				t.Fatalf("user entry lacks extra field %q", k)
			}
		}
		switch g, ok := e["geolocation"]; {
		case !ok:
			geoAbsent++
		case g == nil:
			geoNull++
		default:
			gm := g.(map[string]any)
			for _, k := range []string{"date", "ip_end", "country"} {
				if _, ok := gm[k]; !ok {
					t.Fatalf("geolocation lacks %q: %v", k, gm)
				}
			}
		}
		if ll, ok := e["last_login"].(string); ok {
			if _, err := time.Parse("2006-01-02T15:04:05Z", ll); err != nil {
				t.Fatalf("last_login %q: %v", ll, err)
			}
		}
		for _, dv := range e["safesticks"].([]any) {
			drives++
			d := dv.(map[string]any)
			for _, k := range append(seedDeviceKeys, "model", "capacityGB", "partitions", "extra") {
				if _, ok := d[k]; !ok {
					t.Fatalf("device lacks %q: %v", k, d)
				}
			}
			switch lu, ok := d["lastUsed"]; {
			case !ok:
				lastUsedAbsent++
			case lu == nil:
				lastUsedNull++
			case lu == "":
				lastUsedEmpty++
			default:
				if _, err := time.Parse("2006-01-02T15:04:05Z", lu.(string)); err != nil {
					t.Fatalf("lastUsed %q: %v", lu, err)
				}
			}
		}
		// Key order must vary between entries.
		orders[firstKey(t, e)] = true
	}
	if drives != 300 {
		t.Errorf("served %d drives, want 300", drives)
	}
	if geoAbsent == 0 || geoNull == 0 {
		t.Errorf("user geolocation should be sometimes absent (%d) and sometimes null (%d)", geoAbsent, geoNull)
	}
	if lastUsedAbsent == 0 || lastUsedNull == 0 || lastUsedEmpty == 0 {
		t.Errorf("never-used drives should mix absent (%d), null (%d) and \"\" (%d) lastUsed", lastUsedAbsent, lastUsedNull, lastUsedEmpty)
	}
	if len(orders) < 2 {
		t.Errorf("key order never varies: first keys %v", orders)
	}
}

// firstKey re-encodes nothing: it finds the entry in a fresh render and reads
// its first key, since map[string]any loses order.
func firstKey(t *testing.T, e map[string]any) string {
	t.Helper()
	u := &User{ID: int64(e["id"].(float64))}
	b := appendUser(nil, u, nil, false)
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	k, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	return k.(string)
}

// wireDevice and wireUser decode an answer the way a careful client would;
// the test then derives the labels from the wire and compares them with
// Fleet.DeviceTruths, which works from the Go structs.
type wireGeo struct {
	Country string `json:"country"`
}
type wireDevice struct {
	Serial   string   `json:"serial"`
	Status   *string  `json:"safeStickStatus"`
	Online   bool     `json:"isOnline"`
	Updated  bool     `json:"isUpdated"`
	Version  *string  `json:"version"`
	LastUsed *string  `json:"lastUsed"`
	Owner    string   `json:"owner"`
	Geo      *wireGeo `json:"geolocation"`
}
type wireUser struct {
	ID      int64        `json:"id"`
	Email   string       `json:"email"`
	OU      int64        `json:"ou"`
	Geo     *wireGeo     `json:"geolocation"`
	Devices []wireDevice `json:"safesticks"`
}

func TestWireMatchesTruth(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 11, Devices: 3000})
	s := NewServer(f, WithMaxLimit(100))
	defer s.Close()
	ous := map[int64]string{}
	_, b := call(t, s, http.MethodGet, "get_ous", "")
	var ouResp struct {
		Success  bool `json:"success"`
		Response []struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"response"`
	}
	if err := json.Unmarshal(b, &ouResp); err != nil || !ouResp.Success || len(ouResp.Response) != len(f.OUs) {
		t.Fatalf("get_ous: %v %s", err, b)
	}
	for _, o := range ouResp.Response {
		ous[o.ID] = o.Path
	}
	got := map[string]DeviceTruth{}
	for start := 0; ; start += 100 {
		resp, b := call(t, s, http.MethodPost, DefaultListAction, fmt.Sprintf(`{"limit":100,"start":%d}`, start))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var p struct {
			Total    int        `json:"total"`
			Response []wireUser `json:"response"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Response {
			for _, d := range u.Devices {
				dt := DeviceTruth{Serial: d.Serial, UserID: u.ID, UserEmail: u.Email, Owner: d.Owner, Online: d.Online,
					OU: ous[u.OU], Country: "unknown", Version: "unknown", Status: "unknown"}
				if dt.OU == "" {
					dt.OU = fmt.Sprint(u.OU)
				}
				if u.Geo != nil && u.Geo.Country != "" {
					dt.Country = u.Geo.Country
				}
				if d.Geo != nil && d.Geo.Country != "" {
					dt.Country = d.Geo.Country
				}
				if d.Version != nil && *d.Version != "" {
					dt.Version = *d.Version
				}
				if d.Status != nil && *d.Status != "" {
					dt.Status = strings.ToLower(*d.Status)
				}
				dt.Disabled = dt.Status == "disabled"
				dt.Outdated = !d.Updated
				if d.LastUsed == nil || *d.LastUsed == "" {
					dt.NeverUsed = true
				} else {
					lu, err := time.Parse("2006-01-02T15:04:05Z", *d.LastUsed)
					if err != nil {
						t.Fatal(err)
					}
					dt.LastUsed = lu
					dt.AgeSeconds = f.Now.Sub(lu).Seconds()
				}
				got[d.Serial] = dt
			}
		}
		if start+100 >= p.Total {
			break
		}
	}
	want := f.DeviceTruths(TallyOptions{})
	if len(got) != len(want) {
		t.Fatalf("read %d drives, fleet has %d", len(got), len(want))
	}
	for _, w := range want {
		if g := got[w.Serial]; g != w {
			t.Fatalf("drive %s from the wire:\n got  %+v\n want %+v", w.Serial, g, w)
		}
	}
}

func TestDeterministicBytes(t *testing.T) {
	body := `{"limit":50,"start":50,"sort_by":"email","sort_order":"ASC","keyword":"search_all"}`
	var pages [][]byte
	for range 2 {
		s := NewServer(NewFleet(FleetOptions{Seed: 99, Devices: 400}))
		_, b := call(t, s, http.MethodPost, DefaultListAction, body)
		s.Close()
		pages = append(pages, b)
	}
	if !bytes.Equal(pages[0], pages[1]) {
		t.Fatal("same seed served different bytes")
	}
	if !json.Valid(pages[0]) {
		t.Fatal("invalid JSON")
	}
}

// pageAll reads the whole list and returns user IDs in the order served.
func pageAll(t *testing.T, s *Server, limit int, byNumber bool, extra string) ([]int64, int) {
	t.Helper()
	var all []int64
	total := -1
	for i := 0; ; i++ {
		start := i * limit
		if byNumber {
			start = i
		}
		p := list(t, s, fmt.Sprintf(`{"limit":%d,"start":%d%s}`, limit, start, extra))
		if total == -1 {
			total = p.Total
		}
		if len(p.Response) == 0 {
			break
		}
		all = append(all, ids(p)...)
		if i > 10000 {
			t.Fatal("paging does not end")
		}
	}
	return all, total
}

func fleetIDs(f *Fleet) []int64 {
	var out []int64
	for _, u := range f.Users {
		out = append(out, u.ID)
	}
	return out
}

func TestPaging(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 2, Devices: 250})
	for _, c := range []struct {
		name     string
		paging   Paging
		byNumber bool
	}{{"offset", PageByOffset, false}, {"number", PageByNumber, true}} {
		t.Run(c.name, func(t *testing.T) {
			s := NewServer(f, WithPaging(c.paging))
			defer s.Close()
			got, total := pageAll(t, s, 7, c.byNumber, "")
			if total != len(f.Users) {
				t.Errorf("total %d, want %d users", total, len(f.Users))
			}
			want := fleetIDs(f)
			slices.SortFunc(want, func(a, b int64) int { // default: last_login DESC, then id DESC
				ua, _ := f.User(a)
				ub, _ := f.User(b)
				if c := ub.LastLogin.Compare(ua.LastLogin); c != 0 {
					return c
				}
				return int(b - a)
			})
			if !slices.Equal(got, want) {
				t.Errorf("paged IDs differ from the fleet in last_login DESC order\n got  %v\n want %v", got[:10], want[:10])
			}
		})
	}
	// Offset paging read as page numbers goes wrong in an observable way:
	// page 1 by number is records 7..13, not record 1 onwards.
	s := NewServer(f, WithPaging(PageByNumber))
	defer s.Close()
	p0 := list(t, s, `{"limit":7,"start":0}`)
	p1 := list(t, s, `{"limit":7,"start":1}`)
	s2 := NewServer(f)
	defer s2.Close()
	o7 := list(t, s2, `{"limit":7,"start":7}`)
	if !slices.Equal(ids(p1), ids(o7)) || slices.Equal(ids(p0), ids(p1)) {
		t.Errorf("page 1 by number %v, offset 7 %v", ids(p1), ids(o7))
	}
}

func TestSortAndFilter(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 4, Devices: 120})
	s := NewServer(f)
	defer s.Close()
	got, _ := pageAll(t, s, 1000, false, `,"sort_by":"id","sort_order":"ASC"`)
	if !slices.Equal(got, fleetIDs(f)) {
		t.Errorf("id ASC is not fleet order")
	}
	got, _ = pageAll(t, s, 1000, false, `,"sort_by":"id","sort_order":"desc"`)
	want := fleetIDs(f)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("id desc is not reverse fleet order")
	}
	p := list(t, s, `{"limit":1000,"start":0,"sort_by":"email","sort_order":"ASC"}`)
	var emails []string
	for _, e := range p.Response {
		emails = append(emails, e["email"].(string))
	}
	if !slices.IsSorted(emails) || len(emails) != len(f.Users) {
		t.Errorf("email ASC not sorted or incomplete")
	}
	kw := strings.ToUpper(f.Users[3].Email[:4]) // case-insensitive substring
	p = list(t, s, `{"limit":1000,"start":0,"keyword":"`+kw+`"}`)
	n := 0
	for _, u := range f.Users {
		if strings.Contains(u.Email, strings.ToLower(kw)) {
			n++
		}
	}
	if p.Total != n || len(p.Response) != n || n == 0 {
		t.Errorf("keyword %q: total %d entries %d, want %d", kw, p.Total, len(p.Response), n)
	}
	p = list(t, s, `{"limit":10,"start":0,"keyword":""}`)
	if p.Total != len(f.Users) {
		t.Errorf("empty keyword: total %d", p.Total)
	}
}

func TestLimits(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 8, Devices: 200})
	s := NewServer(f, WithMaxLimit(25))
	defer s.Close()
	p := list(t, s, `{"limit":1000,"start":0}`)
	if len(p.Response) != 25 || p.Total != len(f.Users) {
		t.Errorf("limit above max: %d entries, total %d", len(p.Response), p.Total)
	}
	p = list(t, s, `{"limit":10,"start":100000}`)
	if len(p.Response) != 0 || p.Total != len(f.Users) || !p.Success {
		t.Errorf("start beyond the end: %d entries, total %d", len(p.Response), p.Total)
	}
}

func TestBadRequests(t *testing.T) {
	s := NewServer(NewFleet(FleetOptions{Seed: 1, Devices: 10}))
	defer s.Close()
	for _, c := range []struct {
		method, action, body string
		status               int
	}{
		{"POST", "get_users", `{"limit":0,"start":0}`, 400},
		{"POST", "get_users", `{"start":0}`, 400},
		{"POST", "get_users", `{"limit":-1}`, 400},
		{"POST", "get_users", `{"limit":10,"start":-1}`, 400},
		{"POST", "get_users", `{"limit":10,`, 400},
		{"POST", "get_users", `{"limit":"10"}`, 400},
		{"POST", "get_users", ``, 400},
		{"POST", "get_users", `{"limit":10,"sort_by":"nope"}`, 400},
		{"POST", "get_users", `{"limit":10,"sort_order":"UP"}`, 400},
		{"GET", "get_users", ``, 405},
		{"POST", "get_ous", `{}`, 405},
		{"POST", "list_devices", `{"limit":10}`, 404},
		{"GET", "", ``, 404},
	} {
		resp, b := call(t, s, c.method, c.action, c.body)
		var e listPage
		if resp.StatusCode != c.status || json.Unmarshal(b, &e) != nil || e.Success || e.Message == "" {
			t.Errorf("%s %s %s: status %d body %s, want %d with a JSON error", c.method, c.action, c.body, resp.StatusCode, b, c.status)
		}
	}
	_, b := call(t, s, "POST", "list_devices", `{"limit":10}`)
	if !strings.Contains(string(b), "Unknown action") {
		t.Errorf("unknown action body %s", b)
	}
	resp, err := s.Client().Get(s.URL + "/other?action=get_ous")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("other path: %d", resp.StatusCode)
	}
}

func TestListAction(t *testing.T) {
	s := NewServer(NewFleet(FleetOptions{Seed: 1, Devices: 10}), WithListAction("list_users"))
	defer s.Close()
	if resp, _ := call(t, s, "POST", "get_users", `{"limit":10}`); resp.StatusCode != 404 {
		t.Errorf("default action still answers: %d", resp.StatusCode)
	}
	if resp, _ := call(t, s, "POST", "list_users", `{"limit":10}`); resp.StatusCode != 200 {
		t.Errorf("configured action: %d", resp.StatusCode)
	}
}

func TestAuth(t *testing.T) {
	s := NewServer(NewFleet(FleetOptions{Seed: 1, Devices: 10}))
	defer s.Close()
	c := s.Client()
	for _, tok := range []string{"", "wrong"} {
		resp, b := callWith(t, s, c, tok, "GET", "get_ous", "")
		if resp.StatusCode != 401 || !strings.Contains(string(b), `"success":false`) {
			t.Errorf("token %q: %d %s", tok, resp.StatusCode, b)
		}
	}
	// Not a bearer scheme.
	req, _ := http.NewRequest("GET", s.URL+APIPath+"?action=get_ous", nil)
	req.Header.Set("Authorization", "Basic "+DefaultToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}
	if resp, _ := callWith(t, s, c, DefaultToken, "GET", "get_ous", ""); resp.StatusCode != 200 {
		t.Errorf("default token: %d", resp.StatusCode)
	}
	next := MakeToken(time.Unix(2000000000, 0), nil)
	s.SetToken(next)
	if resp, _ := callWith(t, s, c, DefaultToken, "GET", "get_ous", ""); resp.StatusCode != 401 {
		t.Errorf("rotated-out token: %d", resp.StatusCode)
	}
	if resp, _ := callWith(t, s, c, next, "GET", "get_ous", ""); resp.StatusCode != 200 {
		t.Errorf("new token: %d", resp.StatusCode)
	}
	want := []string{"wrong", "Basic " + DefaultToken, DefaultToken, next}
	if got := s.ObservedTokens(); !slices.Equal(got, want) {
		t.Errorf("ObservedTokens = %q, want %q", got, want)
	}
	// Refused requests count too.
	if got := s.Requests("get_ous"); got != 6 {
		t.Errorf("Requests(get_ous) = %d, want 6", got)
	}
	if got := s.RequestsTotal(); got != 6 {
		t.Errorf("RequestsTotal = %d, want 6", got)
	}
	s.ResetCounters()
	if s.RequestsTotal() != 0 || s.Requests("get_ous") != 0 {
		t.Error("ResetCounters did not reset")
	}
}

func TestTokens(t *testing.T) {
	parts := strings.Split(DefaultToken, ".")
	if len(parts) != 3 {
		t.Fatalf("DefaultToken has %d parts", len(parts))
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(p, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["exp"] != float64(2147366207) {
		t.Errorf("exp = %v", claims["exp"])
	}
	for _, k := range []string{"roles", "iss", "realm", "admin_name"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %q missing", k)
		}
	}
	tok := MakeToken(time.Time{}, map[string]any{"admin_name": "ops@example.com", "roles": nil})
	p, _ = base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	claims = nil
	_ = json.Unmarshal(p, &claims)
	if _, ok := claims["exp"]; ok || claims["admin_name"] != "ops@example.com" || claims["roles"] != nil {
		t.Errorf("claims %v", claims)
	}
	if MakeToken(time.Unix(5, 0), nil) != MakeToken(time.Unix(5, 0), nil) {
		t.Error("MakeToken not deterministic")
	}
}

func TestGetOUs(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 1, Devices: 10})
	s := NewServer(f)
	defer s.Close()
	resp, b := call(t, s, "GET", "get_ous", "")
	var r struct {
		Success  bool             `json:"success"`
		Response []map[string]any `json:"response"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil || !r.Success || len(r.Response) != len(f.OUs) {
		t.Fatalf("get_ous: %d %s", resp.StatusCode, b)
	}
	for i, e := range r.Response {
		if e["id"] != float64(f.OUs[i].ID) || e["path"] != f.OUs[i].Path || len(e) < 3 {
			t.Errorf("OU %d = %v, want %+v and an extra field", i, e, f.OUs[i])
		}
	}
}

func TestTLS(t *testing.T) {
	s := NewTLSServer(NewFleet(FleetOptions{Seed: 1, Devices: 10}))
	defer s.Close()
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || s.Certificate() == nil {
		t.Fatalf("URL %s", s.URL)
	}
	if resp, _ := call(t, s, "GET", "get_ous", ""); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A client that does not trust the certificate fails.
	if _, err := http.Get(s.URL + APIPath + "?action=get_ous"); err == nil {
		t.Error("untrusting client connected")
	}
	path, err := s.CAFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pemData, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatal("CA file holds no certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, _ := callWith(t, s, c, DefaultToken, "GET", "get_ous", ""); resp.StatusCode != 200 {
		t.Errorf("client with CA file: %d", resp.StatusCode)
	}
	plain := NewServer(nil)
	defer plain.Close()
	if _, err := plain.CAFile(t.TempDir()); err == nil || plain.Certificate() != nil {
		t.Error("plain server claims a certificate")
	}
}

func TestSetFleetAndOnPage(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 6, Devices: 100})
	s := NewServer(f)
	defer s.Close()
	body := `{"limit":10,"start":0,"sort_by":"id","sort_order":"ASC"}`
	first := ids(list(t, s, body))

	// A user inserted before page 1 is answered shifts that page by one:
	// the last entry of page 0 is served again.
	var pages []int
	s.OnPage(func(page int) {
		pages = append(pages, page)
		if page == 1 {
			f.AddUser(User{ID: 1, Email: "early@example.com"})
		}
	})
	p1 := ids(list(t, s, `{"limit":10,"start":10,"sort_by":"id","sort_order":"ASC"}`))
	if p1[0] != first[9] {
		t.Errorf("after an insert, page 1 starts with %d, want page 0's last %d", p1[0], first[9])
	}
	if !slices.Equal(pages, []int{1}) {
		t.Errorf("hook saw pages %v", pages)
	}
	s.OnPage(nil)

	g := NewFleet(FleetOptions{Seed: 7, Devices: 5})
	s.SetFleet(g)
	if p := list(t, s, body); p.Total != len(g.Users) || s.Fleet() != g {
		t.Errorf("SetFleet: total %d, want %d", p.Total, len(g.Users))
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := logTo(&buf)
	s := NewServer(NewFleet(FleetOptions{Seed: 1, Devices: 3}), WithLogger(l))
	list(t, s, `{"limit":5}`)
	s.Close()
	if !strings.Contains(buf.String(), "action=get_users") {
		t.Errorf("log: %q", buf.String())
	}
}

func TestStringEscaping(t *testing.T) {
	f := &Fleet{Now: DefaultNow, OUs: []OU{{ID: 1, Path: `00."odd"\path`}}}
	odd := "q\"b\\s/\n\t\x01 é 日本 \u2028"
	f.AddUser(User{ID: 1, OU: 1, Email: odd, CN: "bad \xff utf8", Country: odd,
		Devices: []Device{{Serial: "S1", Owner: odd, Version: odd, Country: odd}}})
	s := NewServer(f)
	defer s.Close()
	_, b := call(t, s, "POST", DefaultListAction, `{"limit":10}`)
	var p struct {
		Response []struct {
			Email   string       `json:"email"`
			CN      string       `json:"cn"`
			Geo     wireGeo      `json:"geolocation"`
			Devices []wireDevice `json:"safesticks"`
		} `json:"response"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	u := p.Response[0]
	if u.Email != odd || u.Geo.Country != odd || u.Devices[0].Owner != odd || *u.Devices[0].Version != odd {
		t.Errorf("strings did not survive: %+v", u)
	}
	if u.CN != "bad \ufffd utf8" {
		t.Errorf("invalid UTF-8 should become U+FFFD: %q", u.CN)
	}
	_, b = call(t, s, "GET", "get_ous", "")
	if !json.Valid(b) || !strings.Contains(string(b), `00.\"odd\"\\path`) {
		t.Errorf("get_ous escaping: %s", b)
	}
}

// TestConcurrentUse exercises the locking under -race: parallel clients
// while a hook mutates the fleet and the test swaps fleets and faults.
func TestConcurrentUse(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 12, Devices: 2000})
	s := NewServer(f)
	defer s.Close()
	var mu sync.Mutex
	next := int64(1)
	s.OnPage(func(page int) {
		if page%3 == 0 {
			mu.Lock()
			id := next
			next++
			mu.Unlock()
			s.Fleet().AddUser(User{ID: id, Email: fmt.Sprintf("c%d@example.com", id), Devices: []Device{{Serial: fmt.Sprintf("C%d", id)}}})
		}
	})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 20 {
				resp, b := call(t, s, "POST", DefaultListAction, fmt.Sprintf(`{"limit":50,"start":%d,"sort_by":"email","sort_order":"ASC"}`, (w*20+i)*50))
				if resp.StatusCode != 200 && resp.StatusCode != 503 || !json.Valid(b) {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			s.AddFault(Fault{Page: i, Times: 1, Status: 503})
			s.Fleet().Mutate(func(f *Fleet) { f.Now = f.Now.Add(time.Second) })
			_ = s.Fleet().Tally(TallyOptions{})
			_ = s.ObservedTokens()
			_ = s.Requests(DefaultListAction)
		}
		s.SetFleet(f.Clone())
		s.ClearFaults()
	})
	wg.Wait()
	if got := s.Requests(DefaultListAction); got != 80 {
		t.Errorf("counted %d list requests, want 80", got)
	}
}

// TestSeedShape: with WithSeedShape an answer carries the vendor's members
// and nothing else, and is well under the default answer's size.
func TestSeedShape(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 5, Devices: 300})
	seed := NewServer(f, WithSeedShape())
	defer seed.Close()
	padded := NewServer(f)
	defer padded.Close()
	body := `{"limit":1000,"start":0,"sort_by":"id","sort_order":"ASC","keyword":""}`
	allowed := func(keys []string, extra ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range append(keys, extra...) {
			m[k] = true
		}
		return m
	}
	userKeys := allowed(seedUserKeys, "geolocation")
	deviceKeys := allowed(seedDeviceKeys, "geolocation", "lastUsed")
	p := list(t, seed, body)
	if p.Total != len(f.Users) || len(p.Response) != p.Total {
		t.Fatalf("total %d entries %d, fleet has %d users", p.Total, len(p.Response), len(f.Users))
	}
	for _, e := range p.Response {
		for k := range e {
			if !userKeys[k] {
				t.Fatalf("seed-shaped user entry has %q", k)
			}
		}
		for _, d := range e["safesticks"].([]any) {
			for k := range d.(map[string]any) {
				if !deviceKeys[k] {
					t.Fatalf("seed-shaped drive has %q", k)
				}
			}
		}
	}
	size := func(s *Server) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+APIPath+"?action="+DefaultListAction, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return b.Len()
	}
	if s, d := size(seed), size(padded); s*3 > d*2 {
		t.Errorf("seed-shaped answer %d bytes, default %d: the extra members are not left out", s, d)
	}
}
