package safeconsole_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// fleetOfUsers returns a generated fleet trimmed to exactly n user entries.
func fleetOfUsers(n int) *safeconsoletest.Fleet {
	f := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 7, Devices: 2*n + 10})
	for len(f.Users) < n { // very unlikely with 2 drives a user on average
		f.AddUser(safeconsoletest.User{Email: fmt.Sprintf("extra%d@example.com", len(f.Users)), OU: 1})
	}
	f.Users = f.Users[:n]
	return f
}

func writeToken(t *testing.T, dir, token string) string {
	t.Helper()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newClient returns a client for srv reading the server's default token
// from a file; mod adjusts the configuration.
func newClient(t *testing.T, srv *safeconsoletest.Server, mod func(*safeconsole.Config)) *safeconsole.Client {
	t.Helper()
	cfg := safeconsole.Config{
		URL:               srv.URL,
		TokenFile:         writeToken(t, t.TempDir(), safeconsoletest.DefaultToken),
		AllowInsecureHTTP: true,
		PageSize:          10,
		Concurrency:       3,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := safeconsole.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// collected records what a scan delivered.
type collected struct {
	mu      sync.Mutex
	users   []int64
	serials []string
}

func (c *collected) visit(p *safeconsole.Page) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range p.Users {
		c.users = append(c.users, u.ID)
	}
	for _, d := range p.Devices {
		c.serials = append(c.serials, d.Serial)
	}
}

func fleetIDs(f *safeconsoletest.Fleet) ([]int64, []string) {
	var ids []int64
	var serials []string
	for _, u := range f.Users {
		ids = append(ids, u.ID)
		for _, d := range u.Devices {
			serials = append(serials, d.Serial)
		}
	}
	slices.Sort(ids)
	slices.Sort(serials)
	return ids, serials
}

func scan(t *testing.T, c *safeconsole.Client) (*safeconsole.ScanResult, *collected, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got collected
	res, err := c.Scan(ctx, got.visit)
	slices.Sort(got.users)
	slices.Sort(got.serials)
	return res, &got, err
}

func assertWholeFleet(t *testing.T, f *safeconsoletest.Fleet, got *collected) {
	t.Helper()
	wantIDs, wantSerials := fleetIDs(f)
	if !slices.Equal(got.users, wantIDs) {
		t.Errorf("delivered %d users, want exactly the fleet's %d, each once", len(got.users), len(wantIDs))
	}
	if !slices.Equal(got.serials, wantSerials) {
		t.Errorf("delivered %d drives, want exactly the fleet's %d, each once", len(got.serials), len(wantSerials))
	}
}

func TestScanPagesWholeFleet(t *testing.T) {
	const pageSize = 10
	for _, tc := range []struct {
		users     int
		listPages int // list requests the scan must make, no more
	}{
		{0, 1},
		{1, 1},
		{pageSize, 1},
		{pageSize + 1, 2},
		{5 * pageSize, 5},
		{5*pageSize + 1, 6},
	} {
		for _, paging := range []safeconsole.Paging{safeconsole.PagingOffset, safeconsole.PagingNumber} {
			t.Run(fmt.Sprintf("users=%d/%s", tc.users, paging), func(t *testing.T) {
				f := fleetOfUsers(tc.users)
				simPaging := safeconsoletest.PageByOffset
				if paging == safeconsole.PagingNumber {
					simPaging = safeconsoletest.PageByNumber
				}
				srv := safeconsoletest.NewServer(f, safeconsoletest.WithPaging(simPaging))
				defer srv.Close()
				c := newClient(t, srv, func(cfg *safeconsole.Config) { cfg.Paging = paging })
				res, got, err := scan(t, c)
				if err != nil {
					t.Fatalf("Scan: %v", err)
				}
				assertWholeFleet(t, f, got)
				if n := srv.Requests(safeconsole.DefaultListAction); n != int64(tc.listPages) {
					t.Errorf("list requests = %d, want %d", n, tc.listPages)
				}
				if res.Requests != tc.listPages+1 { // + get_ous
					t.Errorf("ScanResult.Requests = %d, want %d", res.Requests, tc.listPages+1)
				}
				if res.FirstTotal != int64(tc.users) || res.LastTotal != int64(tc.users) || res.Users != tc.users {
					t.Errorf("totals first=%d last=%d users=%d, want %d", res.FirstTotal, res.LastTotal, res.Users, tc.users)
				}
				if res.OUsErr != nil || len(res.OUs) != len(f.OUs) {
					t.Errorf("OUs = %d (err %v), want %d", len(res.OUs), res.OUsErr, len(f.OUs))
				}
			})
		}
	}
}

func TestScanFollowsServerCappedLimit(t *testing.T) {
	f := fleetOfUsers(95)
	srv := safeconsoletest.NewServer(f, safeconsoletest.WithMaxLimit(20))
	defer srv.Close()
	c := newClient(t, srv, func(cfg *safeconsole.Config) { cfg.PageSize = 50 })
	_, got, err := scan(t, c)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	assertWholeFleet(t, f, got)
	if n := srv.Requests(safeconsole.DefaultListAction); n != 5 {
		t.Errorf("list requests = %d, want 5 pages of 20", n)
	}
}

// A user added while the list is paged pushes later entries down a place
// (sorted newest login first). A new entry on a page not read yet is found
// by following onto the extra page; one that lands on a page already read
// cannot be, and the scan says so instead of reporting a short fleet.
func TestScanListGrowsDuringScan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sortBy   string
		order    string
		complete bool
	}{
		{"new entry sorts last", "id", "ASC", true},
		{"new entry sorts first", "last_login", "DESC", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fleetOfUsers(30)
			srv := safeconsoletest.NewServer(f)
			defer srv.Close()
			var once sync.Once
			srv.OnPage(func(page int) {
				if page == 1 {
					once.Do(func() {
						f.AddUser(safeconsoletest.User{Email: "new@example.com", OU: 1, LastLogin: f.Now.Add(time.Hour),
							Devices: []safeconsoletest.Device{{Serial: "NEWDRIVE0001", Status: "IN_USE", Version: "6.10.1", Updated: true}}})
					})
				}
			})
			c := newClient(t, srv, func(cfg *safeconsole.Config) {
				cfg.Concurrency = 1
				cfg.SortBy, cfg.SortOrder = tc.sortBy, tc.order
			})
			res, got, err := scan(t, c)
			if !res.Shifted() || res.FirstTotal != 30 || res.LastTotal != 31 {
				t.Errorf("first/last total = %d/%d, want 30/31 and Shifted", res.FirstTotal, res.LastTotal)
			}
			if n := srv.Requests(safeconsole.DefaultListAction); n != 4 {
				t.Errorf("list requests = %d, want 3 planned + 1 extra page", n)
			}
			if !tc.complete {
				if safeconsole.KindOf(err) != safeconsole.KindInconsistent {
					t.Fatalf("Scan error = %v, want an inconsistency", err)
				}
				if res.DuplicateUsers != 1 {
					t.Errorf("duplicates = %d, want the one entry pushed back across the first boundary read after the change", res.DuplicateUsers)
				}
				return
			}
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			assertWholeFleet(t, f, got)
		})
	}
}

func TestScanListShrinksDuringScan(t *testing.T) {
	f := fleetOfUsers(30)
	srv := safeconsoletest.NewServer(f, safeconsoletest.WithPaging(safeconsoletest.PageByOffset))
	defer srv.Close()
	victim := f.Users[len(f.Users)-1].ID
	var once sync.Once
	srv.OnPage(func(page int) {
		if page == 1 {
			once.Do(func() { f.RemoveUser(victim) })
		}
	})
	c := newClient(t, srv, func(cfg *safeconsole.Config) {
		cfg.Concurrency = 1
		cfg.SortBy, cfg.SortOrder = "id", "ASC" // the removed user sorts last: nothing shifts
	})
	res, got, err := scan(t, c)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	assertWholeFleet(t, f, got)
	if !res.Shifted() {
		t.Errorf("a total that changed between pages was not noticed")
	}
}

func TestScanRejectsInconsistentPages(t *testing.T) {
	for name, fault := range map[string]safeconsoletest.Fault{
		"repeated page":   {Action: safeconsole.DefaultListAction, Page: 2, RepeatPage: 1},
		"every page same": {Action: safeconsole.DefaultListAction, Page: safeconsoletest.AnyPage, RepeatPage: safeconsoletest.RepeatFirstPage},
		"total too high":  {Action: safeconsole.DefaultListAction, Page: safeconsoletest.AnyPage, TotalDelta: 1000},
		"total too low":   {Action: safeconsole.DefaultListAction, Page: safeconsoletest.AnyPage, TotalDelta: -13},
		"empty pages":     {Action: safeconsole.DefaultListAction, Page: 2, Body: []byte(`{"total":45,"success":true,"response":[]}`)},
	} {
		t.Run(name, func(t *testing.T) {
			f := fleetOfUsers(45)
			srv := safeconsoletest.NewServer(f)
			defer srv.Close()
			srv.AddFault(fault)
			c := newClient(t, srv, nil)
			res, _, err := scan(t, c)
			if safeconsole.KindOf(err) != safeconsole.KindInconsistent {
				t.Fatalf("Scan error = %v, want an inconsistency", err)
			}
			if !strings.Contains(err.Error(), "distinct") {
				t.Errorf("error does not say what is inconsistent: %v", err)
			}
			// However much the server claims, paging stops within a bound:
			// the planned pages plus a tenth more, plus one.
			planned := int((res.FirstTotal + 9) / 10)
			if limit := int64(planned + 1 + planned/10); srv.Requests(safeconsole.DefaultListAction) > limit {
				t.Errorf("list requests = %d, want at most %d", srv.Requests(safeconsole.DefaultListAction), limit)
			}
		})
	}
}

func TestScanFaults(t *testing.T) {
	list := safeconsole.DefaultListAction
	any := safeconsoletest.AnyPage
	for _, tc := range []struct {
		name     string
		fault    safeconsoletest.Fault
		mod      func(*safeconsole.Config)
		kind     safeconsole.Kind
		mentions string
	}{
		{"401", safeconsoletest.Fault{Action: list, Page: any, Status: 401}, nil, safeconsole.KindUnauthorized, "Profile Settings > API Tokens"},
		{"403", safeconsoletest.Fault{Action: list, Page: any, Status: 403}, nil, safeconsole.KindForbidden, "owner"},
		{"404 list action", safeconsoletest.Fault{}, func(c *safeconsole.Config) { c.ListAction = "list_things" }, safeconsole.KindUnknownAction, "--safeconsole.list-action"},
		{"429 forever", safeconsoletest.Fault{Action: list, Page: any, Status: 429, RetryAfter: "0"}, nil, safeconsole.KindRateLimited, "rate limiting"},
		{"500 forever", safeconsoletest.Fault{Action: list, Page: any, Status: 500}, nil, safeconsole.KindServer, "HTTP 500"},
		{"503 forever", safeconsoletest.Fault{Action: list, Page: 1, Status: 503}, nil, safeconsole.KindServer, "HTTP 503"},
		{"400", safeconsoletest.Fault{Action: list, Page: any, Status: 400}, nil, safeconsole.KindServer, "HTTP 400"},
		{"malformed JSON", safeconsoletest.Fault{Action: list, Page: 1, Body: []byte(`{"total": 3, "success": true, "response": [{"id": 1,}]}`)}, nil, safeconsole.KindProtocol, "malformed JSON"},
		{"not JSON", safeconsoletest.Fault{Action: list, Page: 0, Body: []byte(`<html>login</html>`)}, nil, safeconsole.KindProtocol, "malformed JSON"},
		{"truncated", safeconsoletest.Fault{Action: list, Page: 1, Truncate: true}, nil, safeconsole.KindTransport, "reading the answer"},
		{"success false", safeconsoletest.Fault{Action: list, Page: 0, SuccessFalse: true}, nil, safeconsole.KindNotSuccess, `"success": false`},
		{"oversized", safeconsoletest.Fault{Action: list, Page: 0, Oversize: 4 << 20}, func(c *safeconsole.Config) { c.MaxResponseBytes = 1 << 20 }, safeconsole.KindTooLarge, "byte limit"},
		{"gzip unasked", safeconsoletest.Fault{Action: list, Page: 0, Gzip: true}, nil, safeconsole.KindProtocol, "Content-Encoding"},
		{"wrong type", safeconsoletest.Fault{Action: list, Page: 0, Body: []byte(`{"total": "12", "success": true, "response": []}`)}, nil, safeconsole.KindProtocol, `"total": is string`},
		{"hostile total", safeconsoletest.Fault{Action: list, Page: 0, Body: []byte(`{"total": 1e300, "success": true, "response": []}`)}, nil, safeconsole.KindProtocol, `"total"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fleetOfUsers(25)
			srv := safeconsoletest.NewServer(f)
			defer srv.Close()
			if tc.fault.Action != "" {
				srv.AddFault(tc.fault)
			}
			c := newClient(t, srv, tc.mod)
			_, _, err := scan(t, c)
			if err == nil {
				t.Fatal("Scan succeeded, want an error")
			}
			if got := safeconsole.KindOf(err); got != tc.kind {
				t.Errorf("kind = %v, want %v (%v)", got, tc.kind, err)
			}
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q does not mention %q", err, tc.mentions)
			}
			if strings.Contains(err.Error(), safeconsoletest.DefaultToken) {
				t.Errorf("error contains the token: %v", err)
			}
		})
	}
}

func TestScanRetriesTransientFaults(t *testing.T) {
	for name, fault := range map[string]safeconsoletest.Fault{
		"429 with Retry-After": {Action: safeconsole.DefaultListAction, Page: 1, Times: 1, Status: 429, RetryAfter: "1"},
		"500 twice":            {Action: safeconsole.DefaultListAction, Page: 2, Times: 2, Status: 500},
		"truncated once":       {Action: safeconsole.DefaultListAction, Page: 0, Times: 1, Truncate: true},
	} {
		t.Run(name, func(t *testing.T) {
			f := fleetOfUsers(25)
			srv := safeconsoletest.NewServer(f)
			defer srv.Close()
			srv.AddFault(fault)
			c := newClient(t, srv, nil)
			_, got, err := scan(t, c)
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			assertWholeFleet(t, f, got)
			if want := int64(3 + fault.Times); srv.Requests(safeconsole.DefaultListAction) != want {
				t.Errorf("list requests = %d, want %d (3 pages + retries)", srv.Requests(safeconsole.DefaultListAction), want)
			}
		})
	}
}

func TestScanNoRetryPastDeadline(t *testing.T) {
	srv := safeconsoletest.NewServer(fleetOfUsers(5))
	defer srv.Close()
	// Retry-After beyond the deadline: report the 429 instead of waiting.
	srv.AddFault(safeconsoletest.Fault{Action: safeconsole.DefaultListAction, Page: 0, Status: 429, RetryAfter: "120"})
	c := newClient(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Scan(ctx, nil)
	if safeconsole.KindOf(err) != safeconsole.KindRateLimited {
		t.Fatalf("Scan error = %v, want rate limited", err)
	}
	if ctx.Err() != nil {
		t.Errorf("the scan waited for the deadline instead of giving up")
	}
	if n := srv.Requests(safeconsole.DefaultListAction); n != 1 {
		t.Errorf("list requests = %d, want 1", n)
	}
}

func TestScanTimesOutOnHangingServer(t *testing.T) {
	srv := safeconsoletest.NewServer(fleetOfUsers(25))
	defer srv.Close()
	srv.AddFault(safeconsoletest.Fault{Action: safeconsole.DefaultListAction, Page: 1, Hang: true})
	c := newClient(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Scan(ctx, nil)
	if safeconsole.KindOf(err) != safeconsole.KindTimeout {
		t.Fatalf("Scan error = %v, want a timeout", err)
	}
}

func TestScanConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := safeconsole.NewClient(safeconsole.Config{URL: "http://" + addr, Token: "x", AllowInsecureHTTP: true, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Scan(context.Background(), nil)
	if safeconsole.KindOf(err) != safeconsole.KindTransport || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Scan error = %v, want connection refused", err)
	}
}

func TestScanFallsBackWhenOUsRefused(t *testing.T) {
	f := fleetOfUsers(12)
	srv := safeconsoletest.NewServer(f)
	defer srv.Close()
	srv.AddFault(safeconsoletest.Fault{Action: safeconsole.ActionOUs, Page: safeconsoletest.AnyPage, Status: 403})
	c := newClient(t, srv, nil)
	res, got, err := scan(t, c)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	assertWholeFleet(t, f, got)
	if res.OUs != nil || safeconsole.KindOf(res.OUsErr) != safeconsole.KindForbidden {
		t.Errorf("OUs = %v, OUsErr = %v; want none and a 403", res.OUs, res.OUsErr)
	}
}

func TestRotatedTokenFileIsUsedOnNextScan(t *testing.T) {
	srv := safeconsoletest.NewServer(fleetOfUsers(5), safeconsoletest.WithToken("old-token"))
	defer srv.Close()
	dir := t.TempDir()
	path := writeToken(t, dir, "old-token")
	c := newClient(t, srv, func(cfg *safeconsole.Config) { cfg.TokenFile = path })
	if _, _, err := scan(t, c); err != nil {
		t.Fatalf("first scan: %v", err)
	}
	srv.SetToken("new-token")
	if _, _, err := scan(t, c); safeconsole.KindOf(err) != safeconsole.KindUnauthorized {
		t.Fatalf("scan with the revoked token: %v, want unauthorized", err)
	}
	writeToken(t, dir, "new-token")
	if _, _, err := scan(t, c); err != nil {
		t.Fatalf("scan after rotating the token file: %v", err)
	}
}

func TestTokenFileProblemsAreClear(t *testing.T) {
	srv := safeconsoletest.NewServer(fleetOfUsers(5))
	defer srv.Close()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for path, want := range map[string]string{
		filepath.Join(dir, "missing"): "no such file",
		empty:                         "is empty",
	} {
		c := newClient(t, srv, func(cfg *safeconsole.Config) { cfg.TokenFile = path })
		_, _, err := scan(t, c)
		if safeconsole.KindOf(err) != safeconsole.KindConfig || !strings.Contains(err.Error(), want) {
			t.Errorf("token file %s: error %v, want one saying %q", filepath.Base(path), err, want)
		}
	}
	if srv.RequestsTotal() != 0 {
		t.Errorf("requests were sent without a token: %d", srv.RequestsTotal())
	}
}

func TestServerEchoOfTokenIsRedacted(t *testing.T) {
	srv := safeconsoletest.NewServer(fleetOfUsers(5))
	defer srv.Close()
	tok := safeconsoletest.DefaultToken
	srv.AddFault(safeconsoletest.Fault{Action: safeconsole.DefaultListAction, Page: 0,
		Body: []byte(`{"success": false, "message": "token ` + tok + ` lacks scope"}`)})
	c := newClient(t, srv, nil)
	_, _, err := scan(t, c)
	if safeconsole.KindOf(err) != safeconsole.KindNotSuccess {
		t.Fatalf("Scan error = %v, want not-success", err)
	}
	if strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("the echoed token was not redacted: %v", err)
	}
}

func TestNewClientRefusesUnsafeSettings(t *testing.T) {
	for name, cfg := range map[string]safeconsole.Config{
		"plain http":       {URL: "http://safeconsole.example.com", Token: "x"},
		"no scheme":        {URL: "safeconsole.example.com", Token: "x"},
		"credentials":      {URL: "https://user:pw@safeconsole.example.com", Token: "x"},
		"no token":         {URL: "https://safeconsole.example.com"},
		"two tokens":       {URL: "https://safeconsole.example.com", Token: "x", TokenFile: "/tmp/t"},
		"bad paging":       {URL: "https://safeconsole.example.com", Token: "x", Paging: "cursor"},
		"page size":        {URL: "https://safeconsole.example.com", Token: "x", PageSize: -1},
		"concurrency":      {URL: "https://safeconsole.example.com", Token: "x", Concurrency: 1000},
		"no URL":           {Token: "x"},
		"response too low": {URL: "https://safeconsole.example.com", Token: "x", MaxResponseBytes: 10},
	} {
		if _, err := safeconsole.NewClient(cfg); err == nil {
			t.Errorf("%s: NewClient accepted %+v", name, cfg.URL)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error shows the URL's password: %v", name, err)
		}
	}
	_, err := safeconsole.NewClient(safeconsole.Config{URL: "http://safeconsole.example.com", Token: "x"})
	if err == nil || !strings.Contains(err.Error(), "--safeconsole.allow-insecure-http") {
		t.Errorf("plain http refusal does not say how to allow it: %v", err)
	}
}

func TestScanOverTLS(t *testing.T) {
	f := fleetOfUsers(15)
	srv := safeconsoletest.NewTLSServer(f)
	defer srv.Close()
	caFile, err := srv.CAFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, func(cfg *safeconsole.Config) {
		cfg.AllowInsecureHTTP = false
		cfg.HTTPClientConfig.TLSConfig = config.TLSConfig{CAFile: caFile}
	})
	_, got, err := scan(t, c)
	if err != nil {
		t.Fatalf("Scan over TLS: %v", err)
	}
	assertWholeFleet(t, f, got)

	// Without the CA the certificate is refused and no token is sent.
	srv2 := safeconsoletest.NewTLSServer(f)
	defer srv2.Close()
	c2 := newClient(t, srv2, func(cfg *safeconsole.Config) { cfg.AllowInsecureHTTP = false; cfg.MaxRetries = -1 })
	_, _, err = scan(t, c2)
	if safeconsole.KindOf(err) != safeconsole.KindTransport || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Scan with an unknown CA: %v, want a certificate error", err)
	}
	if len(srv2.ObservedTokens()) != 0 {
		t.Errorf("a token reached a server whose certificate was refused")
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	target := safeconsoletest.NewServer(fleetOfUsers(3))
	defer target.Close()
	srv := safeconsoletest.NewServer(fleetOfUsers(3))
	defer srv.Close()
	srv.AddFault(safeconsoletest.Fault{Page: safeconsoletest.AnyPage, Status: 302})
	c := newClient(t, srv, func(cfg *safeconsole.Config) { cfg.MaxRetries = -1 })
	_, _, err := scan(t, c)
	if safeconsole.KindOf(err) != safeconsole.KindRedirect {
		t.Fatalf("Scan error = %v, want a redirect refusal", err)
	}
	if target.RequestsTotal() != 0 {
		t.Errorf("the redirect was followed")
	}
	var apiErr *safeconsole.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 302 {
		t.Errorf("error does not carry the status: %#v", err)
	}
}

// OU names seldom change: when get_ous has not answered by the time the
// list is read, the names of an earlier scan serve, instead of the scrape
// waiting for its deadline.
func TestLateOUNamesFallBackToLastKnown(t *testing.T) {
	f := fleetOfUsers(30)
	srv := safeconsoletest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv, nil)
	if res, _, err := scan(t, c); err != nil || res.OUsStale || len(res.OUs) != len(f.OUs) {
		t.Fatalf("first scan: %v, stale %v, %d OUs", err, res.OUsStale, len(res.OUs))
	}
	srv.AddFault(safeconsoletest.Fault{Action: safeconsole.ActionOUs, Page: safeconsoletest.AnyPage, Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got collected
	res, err := c.Scan(ctx, got.visit)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the scan waited for its deadline on a hanging get_ous")
	}
	if !res.OUsStale || res.OUsErr != nil || len(res.OUs) != len(f.OUs) {
		t.Errorf("OUs = %d (stale %v, err %v), want the earlier scan's %d", len(res.OUs), res.OUsStale, res.OUsErr, len(f.OUs))
	}
	if len(got.users) != 30 {
		t.Errorf("delivered %d users, want 30", len(got.users))
	}
}
