package safeconsole_test

// The hostile-server suite: real HTTP servers that misbehave in the ways a
// broken or malicious SafeConsole (or whatever sits at its address) could.
// For every behaviour the scrape must end by its deadline with a clear error
// kind, allocate far less than the server offered, report safeconsole_up 0
// (or data that is exactly right), log what happened, and send the token
// nowhere but the configured server.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/config"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// hostileToken is the token every hostile test configures; it must never
// appear anywhere but in the configured server's Authorization header.
var hostileToken = safeconsoletest.MakeToken(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), map[string]any{"admin_name": "hostile-suite@example.com"})

// hostileMaxBody is the response size cap of the hostile tests' clients.
const hostileMaxBody = 1 << 20

// A small, valid fleet: one user with one drive. goodPage is what the
// hostile server serves unless a case says otherwise.
const (
	goodOUs   = `{"success":true,"response":[{"id":1,"path":"00.default"}]}`
	goodEntry = `{"id":1,"ou":1,"email":"a@example.com","geolocation":{"country":"Norway"},"safesticks":[` +
		`{"serial":"S1","owner":"a@example.com","safeStickStatus":"IN_USE","version":"6.10.1","isOnline":true,` +
		`"isUpdated":true,"lastUsed":"2026-01-01T00:00:00Z","geolocation":{"country":"Sweden"}}]}`
	goodPage = `{"total":1,"success":true,"response":[` + goodEntry + `]}`
)

// goodMetrics is the exposition of goodPage, OU names resolved.
const goodMetrics = `
# HELP safeconsole_device_info Drive metadata; value 1.
# TYPE safeconsole_device_info gauge
safeconsole_device_info{country="Sweden",ou="00.default",serial="S1",status="in_use",version="6.10.1"} 1
# HELP safeconsole_device_last_seen_timestamp_seconds When the drive was last used, in Unix seconds; absent for drives never used.
# TYPE safeconsole_device_last_seen_timestamp_seconds gauge
safeconsole_device_last_seen_timestamp_seconds{serial="S1"} 1.7672256e+09
# HELP safeconsole_up Whether the last scrape read the whole SafeConsole list (1) or failed (0).
# TYPE safeconsole_up gauge
safeconsole_up 1
`

// hostileServer is a loopback server whose every answer a test chooses.
// It records each request and the bearer tokens it carried.
type hostileServer struct {
	*httptest.Server
	requests atomic.Int64
	conns    atomic.Int64 // connections accepted (TLS handshakes attempted)
	sent     atomic.Int64 // body bytes the handler managed to write

	mu     sync.Mutex
	tokens map[string]int
}

// hostileHandler answers one request; action is the API action asked for.
type hostileHandler func(h *hostileServer, w http.ResponseWriter, r *http.Request, action string)

func newHostile(t *testing.T, handle hostileHandler, tlsCert *tls.Certificate) *hostileServer {
	t.Helper()
	h := &hostileServer{tokens: map[string]int{}}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if auth := r.Header.Get("Authorization"); auth != "" {
			h.mu.Lock()
			h.tokens[strings.TrimPrefix(auth, "Bearer ")]++
			h.mu.Unlock()
		}
		handle(h, w, r, r.URL.Query().Get("action"))
	}))
	h.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			h.conns.Add(1)
		}
	}
	// Refused handshakes and cut connections are the point; their noise
	// is not.
	h.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	if tlsCert != nil {
		h.TLS = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
		h.StartTLS()
	} else {
		h.Start()
	}
	t.Cleanup(h.Close)
	return h
}

// tokensSeen returns the distinct tokens the server received.
func (h *hostileServer) tokensSeen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for tok := range h.tokens {
		out = append(out, tok)
	}
	return out
}

// onlyTheToken checks that the server saw no credential but the
// configured token.
func (h *hostileServer) onlyTheToken(t *testing.T) {
	t.Helper()
	for _, tok := range h.tokensSeen() {
		if tok != hostileToken {
			t.Errorf("server received a credential that is not the configured token: %q", tok)
		}
	}
}

// serve answers the API normally: good OUs and goodPage.
func serve(ous, page string) hostileHandler {
	return func(_ *hostileServer, w http.ResponseWriter, _ *http.Request, action string) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		if action == safeconsole.ActionOUs {
			io.WriteString(w, ous)
			return
		}
		io.WriteString(w, page)
	}
}

// listOnly applies handle to the list action and serves good OUs.
func listOnly(handle hostileHandler) hostileHandler {
	return func(h *hostileServer, w http.ResponseWriter, r *http.Request, action string) {
		if action == safeconsole.ActionOUs {
			io.WriteString(w, goodOUs)
			return
		}
		handle(h, w, r, action)
	}
}

// hostileClient builds a client for url with the suite's token; mod
// adjusts its configuration.
func hostileClient(t *testing.T, url string, mod func(*safeconsole.Config)) *safeconsole.Client {
	t.Helper()
	cfg := safeconsole.Config{
		URL:               url,
		TokenFile:         writeToken(t, t.TempDir(), hostileToken),
		AllowInsecureHTTP: true,
		PageSize:          10,
		Concurrency:       2,
		MaxResponseBytes:  hostileMaxBody,
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

// scanOutcome is what one scan against a hostile server came to.
type scanOutcome struct {
	err   error
	res   *safeconsole.ScanResult
	got   *collected
	alloc uint64 // bytes allocated by the whole process during the scan
}

// hostileScan scans under deadline and measures what the process allocated
// meanwhile (the hostile server's own allocations included, which only
// makes the bound stricter).
func hostileScan(t *testing.T, c *safeconsole.Client, deadline time.Duration) scanOutcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var got collected
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := c.Scan(ctx, got.visit)
	runtime.ReadMemStats(&after)
	if err != nil && strings.Contains(err.Error(), hostileToken) {
		t.Errorf("the error carries the token: %v", err)
	}
	o := scanOutcome{err: err, res: res, got: &got, alloc: after.TotalAlloc - before.TotalAlloc}
	// Whatever the server does, a scan allocates a bounded multiple of the
	// response size limit, plus a small cost per request made; cases where
	// the server offers more check a tighter bound.
	requests := 0
	if res != nil {
		requests = res.Requests
	}
	o.allocatedUnder(t, hostileAllocCeiling+uint64(requests)*hostileAllocPerRequest, fmt.Sprintf("whatever it offered, to %d requests", requests))
	return o
}

// hostileAllocCeiling and hostileAllocPerRequest bound what any hostile scan
// may allocate.
const (
	hostileAllocCeiling    = 32 * hostileMaxBody
	hostileAllocPerRequest = 64 << 10
)

// expectKind checks the scan's error kind and that the message says mention.
func (o scanOutcome) expectKind(t *testing.T, kind safeconsole.Kind, mention string) {
	t.Helper()
	if o.err == nil {
		t.Fatalf("scan succeeded, want a %v error", kind)
	}
	if got := safeconsole.KindOf(o.err); got != kind {
		t.Errorf("error kind = %v, want %v: %v", got, kind, o.err)
	}
	if !strings.Contains(o.err.Error(), mention) {
		t.Errorf("error %q does not say %q", o.err, mention)
	}
}

// allocatedUnder checks that the scan allocated less than limit bytes.
func (o scanOutcome) allocatedUnder(t *testing.T, limit uint64, offered string) {
	t.Helper()
	if o.alloc >= limit {
		t.Errorf("the scan allocated %d bytes, want under %d (the server offered %s)", o.alloc, limit, offered)
	}
}

// collectOutcome is a collection through the collector, as a scrape runs it.
type collectOutcome struct {
	families []*dto.MetricFamily
	up       float64
	logs     string
}

func hostileCollect(t *testing.T, c *safeconsole.Client, deadline time.Duration) collectOutcome {
	t.Helper()
	var logs syncLog
	coll, err := collector.New(c, collector.Options{Logger: log.NewLogfmtLogger(&logs), Devices: true, Timeout: deadline})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(coll.Scrape(ctx).Collector(true))
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("the exposition is invalid: %v", err)
	}
	out := collectOutcome{families: families, up: -1, logs: logs.String()}
	for _, mf := range families {
		if mf.GetName() == "safeconsole_up" {
			out.up = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	for _, mf := range families {
		switch mf.GetName() {
		case "safeconsole_devices", "safeconsole_device_info", "safeconsole_users":
			if out.up != 1 {
				t.Errorf("a failed scrape still emitted %s", mf.GetName())
			}
		}
	}
	if strings.Contains(out.logs, hostileToken) {
		t.Errorf("the log carries the token:\n%s", out.logs)
	}
	return out
}

// expectDown checks that the scrape reported up 0 and logged its kind and
// what happened.
func (o collectOutcome) expectDown(t *testing.T, kind safeconsole.Kind, mention string) {
	t.Helper()
	if o.up != 0 {
		t.Errorf("safeconsole_up = %v, want 0", o.up)
	}
	// logfmt escapes the quotes of a quoted value.
	escaped := strings.ReplaceAll(mention, `"`, `\"`)
	if !strings.Contains(o.logs, "kind="+kind.String()) || !strings.Contains(o.logs, escaped) {
		t.Errorf("the log does not say kind=%s and %q:\n%s", kind, mention, o.logs)
	}
}

// expectExact checks that the scrape reported up 1 and exactly want.
func (o collectOutcome) expectExact(t *testing.T, want string) {
	t.Helper()
	if o.up != 1 {
		t.Fatalf("safeconsole_up = %v, want 1; log:\n%s", o.up, o.logs)
	}
	gathered := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return o.families, nil })
	if err := testutil.GatherAndCompare(gathered, strings.NewReader(want), "safeconsole_up",
		"safeconsole_device_info", "safeconsole_device_last_seen_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// streamForever writes prefix and then filler until the client goes away.
func streamForever(h *hostileServer, w http.ResponseWriter, prefix string, filler byte) {
	chunk := bytes.Repeat([]byte{filler}, 32<<10)
	n, _ := io.WriteString(w, prefix)
	h.sent.Add(int64(n))
	for {
		n, err := w.Write(chunk)
		h.sent.Add(int64(n))
		if err != nil {
			return
		}
	}
}

func TestHostileEndlessBody(t *testing.T) {
	const prefix = `{"total":1,"success":true,"response":[{"id":1,"junk":"`
	for _, tc := range []struct {
		name, announce string
		kind           safeconsole.Kind
		mention        string
	}{
		{"chunked, no length", "", safeconsole.KindTooLarge, "byte limit"},
		{"announced terabyte", strconv.FormatInt(1<<40, 10), safeconsole.KindTooLarge, "byte limit"},
		// A body longer than its Content-Length is cut there: the rest is
		// never read, and what was is malformed JSON.
		{"announced within limits", "1000", safeconsole.KindProtocol, "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHostile(t, listOnly(func(h *hostileServer, w http.ResponseWriter, _ *http.Request, _ string) {
				if tc.announce == "" {
					streamForever(h, w, prefix, 'x')
					return
				}
				// By hand: net/http would not send more than announced.
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				buf.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " + tc.announce + "\r\n\r\n" + prefix)
				chunk := bytes.Repeat([]byte("x"), 32<<10)
				for {
					n, err := buf.Write(chunk)
					h.sent.Add(int64(n))
					if err != nil || buf.Flush() != nil {
						return
					}
				}
			}), nil)
			c := hostileClient(t, srv.URL, nil)
			o := hostileScan(t, c, 10*time.Second)
			o.expectKind(t, tc.kind, tc.mention)
			o.allocatedUnder(t, 16*hostileMaxBody, fmt.Sprintf("an endless body, %d bytes of it written so far", srv.sent.Load()))
			hostileCollect(t, c, 10*time.Second).expectDown(t, tc.kind, tc.mention)
			srv.onlyTheToken(t)
		})
	}
}

// An endless get_ous answer costs the OU names only: the list is read and
// reported exactly, with numeric OU ids.
func TestHostileEndlessOUs(t *testing.T) {
	srv := newHostile(t, func(h *hostileServer, w http.ResponseWriter, r *http.Request, action string) {
		if action == safeconsole.ActionOUs {
			streamForever(h, w, `{"success":true,"response":[{"id":1,"path":"`, 'p')
			return
		}
		io.WriteString(w, goodPage)
	}, nil)
	c := hostileClient(t, srv.URL, nil)
	o := hostileScan(t, c, 10*time.Second)
	if o.err != nil {
		t.Fatalf("scan: %v", o.err)
	}
	if safeconsole.KindOf(o.res.OUsErr) != safeconsole.KindTooLarge {
		t.Errorf("OU error = %v, want too large", o.res.OUsErr)
	}
	o.allocatedUnder(t, 16*hostileMaxBody, "an endless body")
	col := hostileCollect(t, c, 10*time.Second)
	col.expectExact(t, strings.ReplaceAll(goodMetrics, `ou="00.default"`, `ou="1"`))
	if !strings.Contains(col.logs, "OU names unavailable") {
		t.Errorf("the OU fallback is not logged:\n%s", col.logs)
	}
}

// A body that trickles in one byte a second, or headers that never end,
// hold the scrape only until its deadline.
func TestHostileTrickle(t *testing.T) {
	trickleBody := func(h *hostileServer, w http.ResponseWriter, r *http.Request, _ string) {
		w.WriteHeader(http.StatusOK)
		body := goodPage
		for i := 0; ; i++ {
			io.WriteString(w, body[i%len(body):i%len(body)+1])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
	trickleHeaders := func(h *hostileServer, w http.ResponseWriter, r *http.Request, _ string) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		head := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + strings.Repeat("z", 1000)
		for i := 0; i < len(head); i++ {
			buf.WriteByte(head[i])
			if buf.Flush() != nil {
				return
			}
			conn.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := buf.ReadByte(); err != nil && !isTimeout(err) {
				return // the client went away
			}
		}
	}
	for name, handle := range map[string]hostileHandler{
		"list body":    listOnly(trickleBody),
		"list headers": listOnly(trickleHeaders),
		"everything":   trickleBody,
	} {
		t.Run(name, func(t *testing.T) {
			srv := newHostile(t, handle, nil)
			c := hostileClient(t, srv.URL, nil)
			const deadline = 1500 * time.Millisecond
			o := hostileScan(t, c, deadline)
			o.expectKind(t, safeconsole.KindTimeout, "deadline")
			hostileCollect(t, c, deadline).expectDown(t, safeconsole.KindTimeout, "deadline")
			srv.onlyTheToken(t)
		})
	}
}

// A get_ous answer that trickles costs the OU names only, at the deadline:
// the list is reported exactly, with numeric OU ids.
func TestHostileTrickleOUs(t *testing.T) {
	srv := newHostile(t, func(_ *hostileServer, w http.ResponseWriter, r *http.Request, action string) {
		if action != safeconsole.ActionOUs {
			io.WriteString(w, goodPage)
			return
		}
		w.WriteHeader(http.StatusOK)
		for {
			io.WriteString(w, " ")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	}, nil)
	c := hostileClient(t, srv.URL, nil)
	const deadline = 1500 * time.Millisecond
	o := hostileScan(t, c, deadline)
	if o.err != nil {
		t.Fatalf("scan: %v", o.err)
	}
	if safeconsole.KindOf(o.res.OUsErr) != safeconsole.KindTimeout {
		t.Errorf("OU error = %v, want a timeout", o.res.OUsErr)
	}
	hostileCollect(t, c, deadline).expectExact(t, strings.ReplaceAll(goodMetrics, `ou="00.default"`, `ou="1"`))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Deeply nested and huge JSON values.
func TestHostileJSONShapes(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	entry := func(extra string) string {
		return `{"total":1,"success":true,"response":[` + strings.TrimSuffix(goodEntry, "}") + `,"extra":` + extra + `}]}`
	}
	for _, tc := range []struct {
		name    string
		page    string
		kind    safeconsole.Kind // 0: the data must come through exactly
		mention string
	}{
		{"nested arrays in an unknown field", entry(deep(500_000)), safeconsole.KindProtocol, "malformed JSON"},
		{"nested objects in an unknown field", entry(deepObj(100_000)), safeconsole.KindProtocol, "malformed JSON"},
		{"nested response", `{"total":1,"success":true,"response":` + deep(500_000) + `}`, safeconsole.KindProtocol, ""},
		{"unclosed nesting", `{"total":1,"success":true,"response":[` + strings.Repeat("[", 900_000), safeconsole.KindProtocol, "malformed JSON"},
		{"moderate nesting is fine", entry(deep(200)), 0, ""},
		{"900 KB string", entry(`"` + strings.Repeat("s", 900<<10) + `"`), 0, ""},
		{"200,000-element array", entry("[" + strings.Repeat("0,", 200_000) + "0]"), 0, ""},
		{"100,000-member object", entry("{" + strings.Repeat(`"k":1,`, 100_000) + `"k":2}`), 0, ""},
		{"300,000-digit total", `{"total":` + strings.Repeat("9", 300_000) + `,"success":true,"response":[]}`, safeconsole.KindProtocol, `"total"`},
		{"300,000-digit number in an unknown field", entry(strings.Repeat("7", 300_000)), 0, ""},
		{"50,000 entries against a total of 1", `{"total":1,"success":true,"response":[` + distinctEntries(50_000) + `]}`,
			safeconsole.KindInconsistent, "reported 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.page) > hostileMaxBody {
				t.Fatalf("test page of %d bytes exceeds the client's limit", len(tc.page))
			}
			srv := newHostile(t, serve(goodOUs, tc.page), nil)
			c := hostileClient(t, srv.URL, nil)
			o := hostileScan(t, c, 10*time.Second)
			// Decoding may hold the body and a few working copies; never
			// more than a small multiple of the size limit.
			o.allocatedUnder(t, 24*hostileMaxBody, fmt.Sprintf("%d bytes", len(tc.page)))
			col := hostileCollect(t, c, 10*time.Second)
			if tc.kind == 0 {
				if o.err != nil {
					t.Fatalf("scan: %v", o.err)
				}
				col.expectExact(t, goodMetrics)
				return
			}
			o.expectKind(t, tc.kind, tc.mention)
			col.expectDown(t, tc.kind, tc.mention)
		})
	}
}

// distinctEntries returns n user entries with ids 1 to n.
func distinctEntries(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d}`, i)
	}
	return b.String()
}

// A page whose every string field holds invalid UTF-8 is read, with each
// invalid byte replaced as encoding/json replaces it, and exposed as valid
// label values.
func TestHostileInvalidUTF8(t *testing.T) {
	bad := func(s string) string { return s + "\xff\xfe" + "\xe2\x82" + "-end" }
	ous := `{"success":true,"response":[{"id":1,"path":"` + bad("00.default") + `"}]}`
	page := `{"total":1,"success":true,"response":[{"id":1,"ou":1,"geolocation":{"country":"` + bad("Norway") + `"},` +
		`"safesticks":[{"serial":"` + bad("S1") + `","safeStickStatus":"` + bad("IN_USE") + `","version":"` + bad("6.10.1") +
		`","isUpdated":true,"lastUsed":"2026-01-01T00:00:00Z","geolocation":{"country":"` + bad("Sweden") + `"}}]}]}`
	srv := newHostile(t, serve(ous, page), nil)
	c := hostileClient(t, srv.URL, nil)
	if o := hostileScan(t, c, 10*time.Second); o.err != nil {
		t.Fatalf("scan: %v", o.err)
	}
	// What encoding/json makes of the same JSON strings.
	dec := func(s string) string {
		var out string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	status := strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(dec(bad("IN_USE"))))
	want := fmt.Sprintf(`
# HELP safeconsole_device_info Drive metadata; value 1.
# TYPE safeconsole_device_info gauge
safeconsole_device_info{country=%q,ou=%q,serial=%q,status=%q,version=%q} 1
# HELP safeconsole_device_last_seen_timestamp_seconds When the drive was last used, in Unix seconds; absent for drives never used.
# TYPE safeconsole_device_last_seen_timestamp_seconds gauge
safeconsole_device_last_seen_timestamp_seconds{serial=%q} 1.7672256e+09
# HELP safeconsole_up Whether the last scrape read the whole SafeConsole list (1) or failed (0).
# TYPE safeconsole_up gauge
safeconsole_up 1
`, dec(bad("Sweden")), dec(bad("00.default")), dec(bad("S1")), status, dec(bad("6.10.1")), dec(bad("S1")))
	hostileCollect(t, c, 10*time.Second).expectExact(t, want)
}

// setPath replaces the value at a dotted path ("response.0.safesticks.0.
// serial") of a JSON document with raw JSON.
func setPath(t *testing.T, doc, path, raw string) string {
	t.Helper()
	var root any
	if err := json.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	keys := strings.Split(path, ".")
	cur := root
	for i, k := range keys {
		last := i == len(keys)-1
		switch node := cur.(type) {
		case map[string]any:
			if last {
				node[k] = json.RawMessage(raw)
			} else {
				cur = node[k]
			}
		case []any:
			idx, err := strconv.Atoi(k)
			if err != nil || idx >= len(node) {
				t.Fatalf("bad path %s", path)
			}
			if last {
				node[idx] = json.RawMessage(raw)
			} else {
				cur = node[idx]
			}
		default:
			t.Fatalf("bad path %s", path)
		}
	}
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// wrongTypes lists, for every field the exporter reads, the JSON types it
// refuses there.
var wrongTypes = []struct {
	path    string
	allowed string // of s(tring) n(umber) b(oolean) o(bject) a(rray) z (null)
	mention string
}{
	{"success", "b", `"success"`},
	{"total", "n", `"total"`},
	{"response", "az", `"response"`},
	{"response.0", "o", "entry 0"},
	{"response.0.id", "n", `"id"`},
	{"response.0.ou", "nz", `"ou"`},
	{"response.0.geolocation", "oz", `"geolocation"`},
	{"response.0.geolocation.country", "sz", `country`},
	{"response.0.safesticks", "az", `"safesticks"`},
	{"response.0.safesticks.0", "o", "safestick 0"},
	{"response.0.safesticks.0.serial", "s", `"serial"`},
	{"response.0.safesticks.0.safeStickStatus", "sz", `"safeStickStatus"`},
	{"response.0.safesticks.0.version", "sz", `"version"`},
	{"response.0.safesticks.0.isOnline", "bz", `"isOnline"`},
	{"response.0.safesticks.0.isUpdated", "bz", `"isUpdated"`},
	{"response.0.safesticks.0.lastUsed", "sz", `"lastUsed"`},
	{"response.0.safesticks.0.geolocation", "oz", `"geolocation"`},
	{"response.0.safesticks.0.geolocation.country", "sz", `country`},
}

var jsonOfType = map[byte]string{'s': `"x"`, 'n': `7`, 'b': `true`, 'o': `{}`, 'a': `[]`, 'z': `null`}

func TestHostileWrongTypes(t *testing.T) {
	var page atomic.Value
	srv := newHostile(t, func(_ *hostileServer, w http.ResponseWriter, _ *http.Request, action string) {
		if action == safeconsole.ActionOUs {
			io.WriteString(w, goodOUs)
			return
		}
		io.WriteString(w, page.Load().(string))
	}, nil)
	c := hostileClient(t, srv.URL, nil)
	for _, f := range wrongTypes {
		for _, typ := range []byte("snboaz") {
			if strings.IndexByte(f.allowed, typ) >= 0 {
				continue
			}
			t.Run(f.path+"="+jsonOfType[typ], func(t *testing.T) {
				page.Store(setPath(t, goodPage, f.path, jsonOfType[typ]))
				o := hostileScan(t, c, 10*time.Second)
				o.expectKind(t, safeconsole.KindProtocol, f.mention)
				hostileCollect(t, c, 10*time.Second).expectDown(t, safeconsole.KindProtocol, f.mention)
			})
		}
	}
	// A string that is not a timestamp is as wrong as a number.
	page.Store(setPath(t, goodPage, "response.0.safesticks.0.lastUsed", `"yesterday"`))
	hostileScan(t, c, 10*time.Second).expectKind(t, safeconsole.KindProtocol, "RFC 3339")
}

// Wrong types in the OU answer cost the OU names only.
func TestHostileWrongTypesInOUs(t *testing.T) {
	var ous atomic.Value
	srv := newHostile(t, func(_ *hostileServer, w http.ResponseWriter, _ *http.Request, action string) {
		if action == safeconsole.ActionOUs {
			io.WriteString(w, ous.Load().(string))
			return
		}
		io.WriteString(w, goodPage)
	}, nil)
	c := hostileClient(t, srv.URL, nil)
	for _, f := range []struct{ path, allowed string }{
		{"success", "b"}, {"response", "az"}, {"response.0", "o"}, {"response.0.id", "n"}, {"response.0.path", "s"},
	} {
		for _, typ := range []byte("snboaz") {
			if strings.IndexByte(f.allowed, typ) >= 0 {
				continue
			}
			t.Run(f.path+"="+jsonOfType[typ], func(t *testing.T) {
				ous.Store(setPath(t, goodOUs, f.path, jsonOfType[typ]))
				o := hostileScan(t, c, 10*time.Second)
				if o.err != nil {
					t.Fatalf("scan: %v", o.err)
				}
				if safeconsole.KindOf(o.res.OUsErr) != safeconsole.KindProtocol {
					t.Errorf("OU error = %v, want a protocol error", o.res.OUsErr)
				}
				hostileCollect(t, c, 10*time.Second).expectExact(t, strings.ReplaceAll(goodMetrics, `ou="00.default"`, `ou="1"`))
			})
		}
	}
}

func TestHostileNumbersOutOfRange(t *testing.T) {
	for _, tc := range []struct{ path, value, mention string }{
		{"total", "-1", `"total"`},
		{"total", "10000001", `"total"`},
		{"total", "1e300", `"total"`},
		{"total", "9223372036854775808", `"total"`},
		{"total", "1.5", `"total"`},
		{"response.0.id", "9223372036854775808", `"id"`},
		{"response.0.id", "-9223372036854775809", `"id"`},
		{"response.0.id", "1e400", `"id"`},
		{"response.0.id", "1.0", `"id"`},
		{"response.0.id", "1E2", `"id"`},
		{"response.0.ou", "18446744073709551616", `"ou"`},
		{"response.0.ou", "-1.5", `"ou"`},
	} {
		t.Run(tc.path+"="+tc.value, func(t *testing.T) {
			srv := newHostile(t, serve(goodOUs, setPath(t, goodPage, tc.path, tc.value)), nil)
			c := hostileClient(t, srv.URL, nil)
			hostileScan(t, c, 10*time.Second).expectKind(t, safeconsole.KindProtocol, tc.mention)
			hostileCollect(t, c, 10*time.Second).expectDown(t, safeconsole.KindProtocol, tc.mention)
		})
	}
	// The same in the OU answer costs the names only.
	srv := newHostile(t, serve(`{"success":true,"response":[{"id":1e999,"path":"x"}]}`, goodPage), nil)
	o := hostileScan(t, hostileClient(t, srv.URL, nil), 10*time.Second)
	if o.err != nil || safeconsole.KindOf(o.res.OUsErr) != safeconsole.KindProtocol {
		t.Errorf("scan: %v, OU error %v; want success with a protocol error for the OUs", o.err, o.res.OUsErr)
	}
}

// A server that claims a total as large as allowed and then serves one
// entry a page has the scan plan ten million pages; the deadline must end
// the scan there, not after it has raced through the rest of its plan.
func TestHostileHugeTotalTinyPages(t *testing.T) {
	srv := newHostile(t, listOnly(func(_ *hostileServer, w http.ResponseWriter, r *http.Request, _ string) {
		var req struct{ Start int64 }
		json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"total":%d,"success":true,"response":[{"id":%d}]}`, safeconsole.MaxReportedTotal, req.Start+1)
	}), nil)
	c := hostileClient(t, srv.URL, nil)
	o := hostileScan(t, c, time.Second)
	o.expectKind(t, safeconsole.KindTimeout, "deadline")
	// No request is even attempted once the deadline has passed: the
	// requests the client counted are those the server received, and at
	// most one cut short per worker and action.
	attempted, received := int64(o.res.Requests), srv.requests.Load()
	if attempted > received+3 {
		t.Errorf("the scan attempted %d requests, the server received %d: pages went on being started after the deadline", attempted, received)
	}
}

// gzipBomb is a JSON answer of gzipBombExpanded bytes, gzip-compressed.
// A gzip stream may hold several members, so the 1 MiB middle member is
// compressed once and repeated.
var gzipBomb = sync.OnceValue(func() []byte {
	member := func(p []byte) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(p)
		zw.Close()
		return buf.Bytes()
	}
	out := member([]byte(`{"total":1,"success":true,"response":[],"pad":"`))
	mib := member(bytes.Repeat([]byte("a"), 1<<20))
	for i := 0; i < gzipBombExpanded>>20; i++ {
		out = append(out, mib...)
	}
	return append(out, member([]byte(`"}`))...)
})

const gzipBombExpanded = 256 << 20

func TestHostileCompressionBomb(t *testing.T) {
	bomb := gzipBomb()
	for _, tc := range []struct {
		name, header, value string
		kind                safeconsole.Kind
		mention             string
	}{
		{"gzip", "Content-Encoding", "gzip", safeconsole.KindProtocol, "Content-Encoding"},
		{"upper case", "Content-Encoding", "GZIP", safeconsole.KindProtocol, "Content-Encoding"},
		{"listed twice", "Content-Encoding", "identity, gzip", safeconsole.KindProtocol, "Content-Encoding"},
		{"deflate", "Content-Encoding", "deflate", safeconsole.KindProtocol, "Content-Encoding"},
		// Without the header the compressed bytes are only bytes: they are
		// never inflated, and they are not JSON.
		{"unlabelled", "", "", safeconsole.KindProtocol, "malformed JSON"},
		{"as transfer encoding", "Transfer-Encoding", "gzip", safeconsole.KindTransport, "transfer encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHostile(t, listOnly(func(h *hostileServer, w http.ResponseWriter, r *http.Request, _ string) {
				if ae := r.Header.Get("Accept-Encoding"); ae != "" {
					t.Errorf("the client asked for Accept-Encoding %q", ae)
				}
				if tc.header == "Transfer-Encoding" {
					rawResponse(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", bomb)
					return
				}
				if tc.header != "" {
					w.Header().Set(tc.header, tc.value)
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(bomb)))
				w.Write(bomb)
			}), nil)
			c := hostileClient(t, srv.URL, nil)
			o := hostileScan(t, c, 10*time.Second)
			o.expectKind(t, tc.kind, tc.mention)
			// Far below the expanded size: at most the compressed bytes.
			o.allocatedUnder(t, 8*uint64(len(bomb))+4<<20, fmt.Sprintf("%d bytes inflating to %d", len(bomb), gzipBombExpanded))
			hostileCollect(t, c, 10*time.Second).expectDown(t, tc.kind, tc.mention)
		})
	}
}

// rawResponse writes a response by hand on the hijacked connection.
func rawResponse(w http.ResponseWriter, head string, body []byte) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	buf.WriteString(head)
	buf.Write(body)
	buf.Flush()
}

// Redirects are never followed: another host receives nothing, not even a
// connection, and no credential.
func TestHostileRedirects(t *testing.T) {
	other := newHostile(t, serve(goodOUs, goodPage), nil)
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, target := range []string{"list", "ous", "both"} {
			t.Run(fmt.Sprintf("%d %s", code, target), func(t *testing.T) {
				srv := newHostile(t, func(_ *hostileServer, w http.ResponseWriter, r *http.Request, action string) {
					isOUs := action == safeconsole.ActionOUs
					if target == "both" || (target == "ous") == isOUs {
						// Credentials in the Location must not be echoed either.
						loc := strings.Replace(other.URL, "http://", "http://user:hunter2@", 1) + r.URL.RequestURI()
						http.Redirect(w, r, loc, code)
						return
					}
					serve(goodOUs, goodPage)(nil, w, r, action)
				}, nil)
				c := hostileClient(t, srv.URL, nil)
				o := hostileScan(t, c, 10*time.Second)
				col := hostileCollect(t, c, 10*time.Second)
				if target == "ous" {
					if o.err != nil || safeconsole.KindOf(o.res.OUsErr) != safeconsole.KindRedirect {
						t.Errorf("scan: %v, OU error %v; want success and a redirect error for the OUs", o.err, o.res.OUsErr)
					}
					col.expectExact(t, strings.ReplaceAll(goodMetrics, `ou="00.default"`, `ou="1"`))
				} else {
					o.expectKind(t, safeconsole.KindRedirect, "redirected to "+other.URL)
					col.expectDown(t, safeconsole.KindRedirect, "redirect")
				}
				if strings.Contains(fmt.Sprint(o.err)+col.logs, "hunter2") {
					t.Errorf("the redirect's credentials were echoed: %v\n%s", o.err, col.logs)
				}
				if n := other.conns.Load(); n != 0 {
					t.Errorf("the other host received %d connections", n)
				}
				if toks := other.tokensSeen(); len(toks) != 0 {
					t.Errorf("the other host received tokens %q", toks)
				}
				srv.onlyTheToken(t)
			})
		}
	}
}

// testCA issues certificates for the TLS cases.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM, for the client's CA file
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hostile suite CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue returns a server certificate for the given names, valid between
// notBefore and notAfter.
func (ca *testCA) issue(t *testing.T, dns []string, ips []net.IP, notBefore, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "safeconsole"},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestHostileTLS(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, tc := range []struct {
		name    string
		cert    *tls.Certificate
		mention string
	}{
		{"valid", ca.issue(t, nil, loopback, now.Add(-time.Hour), now.Add(time.Hour)), ""},
		{"wrong host", ca.issue(t, []string{"safeconsole.invalid"}, []net.IP{net.IPv4(192, 0, 2, 1)}, now.Add(-time.Hour), now.Add(time.Hour)), "not 127.0.0.1"},
		{"expired", ca.issue(t, nil, loopback, now.Add(-48*time.Hour), now.Add(-time.Hour)), "expired"},
		{"not yet valid", ca.issue(t, nil, loopback, now.Add(time.Hour), now.Add(48*time.Hour)), "not yet valid"},
		{"other CA", newTestCA(t).issue(t, nil, loopback, now.Add(-time.Hour), now.Add(time.Hour)), "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHostile(t, serve(goodOUs, goodPage), tc.cert)
			c := hostileClient(t, srv.URL, func(cfg *safeconsole.Config) {
				cfg.AllowInsecureHTTP = false
				cfg.HTTPClientConfig.TLSConfig = config.TLSConfig{CAFile: ca.file}
			})
			o := hostileScan(t, c, 10*time.Second)
			col := hostileCollect(t, c, 10*time.Second)
			if tc.mention == "" {
				if o.err != nil {
					t.Fatalf("scan over valid TLS: %v", o.err)
				}
				col.expectExact(t, goodMetrics)
				return
			}
			o.expectKind(t, safeconsole.KindTransport, "certificate")
			if !strings.Contains(fmt.Sprint(o.err), tc.mention) {
				t.Errorf("error %v does not say %q", o.err, tc.mention)
			}
			col.expectDown(t, safeconsole.KindTransport, "certificate")
			if n := srv.requests.Load(); n != 0 {
				t.Errorf("%d requests reached a server whose certificate was refused", n)
			}
			if toks := srv.tokensSeen(); len(toks) != 0 {
				t.Errorf("tokens reached a server whose certificate was refused")
			}
			// A certificate that failed verification will fail again: one
			// handshake per action and scan, no retries.
			if n := srv.conns.Load(); n > 4 {
				t.Errorf("%d TLS handshakes for two scans, want at most 4 (no retries)", n)
			}
		})
	}
}

// A server that floods headers is cut off by the client's header limit.
func TestHostileEndlessHeaders(t *testing.T) {
	srv := newHostile(t, listOnly(func(h *hostileServer, w http.ResponseWriter, r *http.Request, _ string) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\n")
		line := "X-Flood: " + strings.Repeat("f", 4000) + "\r\n"
		for {
			if _, err := buf.WriteString(line); err != nil {
				return
			}
			if buf.Flush() != nil {
				return
			}
		}
	}), nil)
	c := hostileClient(t, srv.URL, func(cfg *safeconsole.Config) { cfg.MaxRetries = -1 })
	o := hostileScan(t, c, 10*time.Second)
	o.expectKind(t, safeconsole.KindTransport, "header")
	// The ceiling every hostile scan is held to applies: the 10 MiB header
	// limit is read, not held several times over.
}
