package metricshttp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/internal/metricshttp"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

type errLog struct{ t *testing.T }

func (l errLog) Println(v ...any) { l.t.Error(v...) }

// hostileFleet is a seeded fleet whose label values need every kind of
// escaping the text format has, plus multi-byte UTF-8.
func hostileFleet(devices int) *safeconsoletest.Fleet {
	f := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 7, Devices: devices})
	f.Mutate(func(f *safeconsoletest.Fleet) {
		f.OUs = append(f.OUs, safeconsoletest.OU{ID: 9001, Path: "01.\"quoted\"\\back\nline.Zürich"})
		for i := range f.Users {
			u := &f.Users[i]
			switch i % 7 {
			case 0:
				u.OU = 9001
			case 1:
				u.Country = "Côte d'Ivoire"
			}
			for j := range u.Devices {
				d := &u.Devices[j]
				switch (i + j) % 11 {
				case 0:
					d.Serial = fmt.Sprintf("q\"%d\\", i*10+j)
				case 1:
					d.Serial = fmt.Sprintf("nl\n%d", i*10+j)
				case 2:
					d.Version = `5.0\beta"`
				case 3:
					d.Status = "ODD \"STATUS\""
				case 4:
					d.Owner = "zoë\"o'hara\"@example.com"
				case 5:
					d.LastUsed = time.Time{}
				}
			}
		}
	})
	return f
}

func newScrape(t *testing.T, f *safeconsoletest.Fleet, o collector.Options, wantOwner bool) (*collector.Scrape, *prometheus.Registry) {
	t.Helper()
	srv := safeconsoletest.NewServer(f)
	t.Cleanup(srv.Close)
	own := prometheus.NewRegistry()
	counter := collector.NewAPIRequestsCounter()
	own.MustRegister(counter)
	client, err := safeconsole.NewClient(safeconsole.Config{
		URL: srv.URL, Token: config.Secret(safeconsoletest.DefaultToken), AllowInsecureHTTP: true,
		PageSize: 37, Concurrency: 3, WantOwner: wantOwner,
		OnRequest: collector.RequestObserver(counter, "sim"),
	})
	if err != nil {
		t.Fatal(err)
	}
	o.Now = func() time.Time { return f.Now }
	o.Timeout = 30 * time.Second
	c, err := collector.New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Scrape(context.Background())
	return s, own
}

func get(t *testing.T, s metricshttp.Scrape, own prometheus.Gatherer, header http.Header, query string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	metricshttp.Serve(rec, req, s, own, errLog{t})
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	return rec
}

// reference is the same scrape through a registry and promhttp, in the
// text format: what the exporter served before the direct path existed.
func reference(t *testing.T, s *collector.Scrape, own prometheus.Gatherer) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector(true))
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(prometheus.Gatherers{reg, own}, promhttp.HandlerOpts{ErrorLog: errLog{t}}).ServeHTTP(rec, req)
	return rec.Body.String()
}

// normalize parses an exposition and writes it back with every family's
// series sorted: two expositions with the same families, help, types and
// samples normalize to the same text, whatever their order.
func normalize(t *testing.T, text string) string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	// Every family must be one group with one TYPE line.
	if got := strings.Count(text, "\n# TYPE ") + boolInt(strings.HasPrefix(text, "# TYPE ")); got != len(mfs) {
		t.Errorf("%d TYPE lines for %d families", got, len(mfs))
	}
	return familiesText(t, mfs)
}

func familiesText(t *testing.T, mfs map[string]*dto.MetricFamily) string {
	t.Helper()
	names := make([]string, 0, len(mfs))
	for n := range mfs {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		mf := mfs[n]
		if n == "process_cpu_seconds_total" || strings.HasPrefix(n, "go_") {
			continue
		}
		keys := make(map[*dto.Metric]string, len(mf.Metric))
		for _, m := range mf.Metric {
			keys[m] = fmt.Sprint(m.GetLabel())
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(keys[a], keys[b]) })
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDirectTextEqualsRegistry: the text the direct path writes carries
// exactly the families, help, types, label sets and values the registry
// path does, with values that need escaping, the owner opt-in, a firmware
// minimum and drives never used.
func TestDirectTextEqualsRegistry(t *testing.T) {
	for _, c := range []struct {
		name string
		opts collector.Options
	}{
		{"devices", collector.Options{Devices: true}},
		{"owner", collector.Options{Devices: true, OwnerEmail: true}},
		{"minimum", collector.Options{Devices: true, FirmwareMinimum: "5.0.2"}},
		{"no devices", collector.Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := hostileFleet(3000)
			s, own := newScrape(t, f, c.opts, c.opts.OwnerEmail)
			rec := get(t, s, own, http.Header{"Accept": {"text/plain;version=0.0.4"}}, "")
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("Content-Type %q", ct)
			}
			got := rec.Body.String()
			want := reference(t, s, own)
			if !strings.Contains(want, "safeconsole_up 1") {
				t.Fatalf("the reference scrape failed:\n%.2000s", want)
			}
			if c.opts.Devices && !strings.Contains(got, `serial="q\"`) {
				t.Fatalf("no escaped serial in the exposition")
			}
			if g, w := normalize(t, got), normalize(t, want); g != w {
				t.Errorf("direct text and registry differ:\n%s", firstDiff(g, w))
			}
			// Every drive's info series is there.
			if c.opts.Devices {
				if n := strings.Count(got, "\nsafeconsole_device_info{"); n != f.DeviceCount() {
					t.Errorf("%d info series for %d drives", n, f.DeviceCount())
				}
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n direct:   %q\n registry: %q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}

// TestFailedScrapeHasNoDeviceSeries: a scrape that failed serves its
// health series and nothing of the fleet, on either path.
func TestFailedScrapeHasNoDeviceSeries(t *testing.T) {
	f := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 1, Devices: 100})
	srv := safeconsoletest.NewServer(f, safeconsoletest.WithToken("another"))
	defer srv.Close()
	client, err := safeconsole.NewClient(safeconsole.Config{URL: srv.URL, Token: config.Secret(safeconsoletest.DefaultToken), AllowInsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := collector.New(client, collector.Options{Devices: true})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Scrape(context.Background())
	for _, accept := range []string{"text/plain;version=0.0.4", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"} {
		rec := get(t, s, nil, http.Header{"Accept": {accept}}, "")
		mfs := decode(t, rec)
		if v := mfs["safeconsole_up"].GetMetric()[0].GetGauge().GetValue(); v != 0 {
			t.Errorf("%s: safeconsole_up %v", accept, v)
		}
		for n := range mfs {
			if strings.HasPrefix(n, "safeconsole_device") {
				t.Errorf("%s: %s served for a failed scrape", accept, n)
			}
		}
	}
}

// decode reads an answer in whatever format and encoding it came.
func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]*dto.MetricFamily {
	t.Helper()
	var body io.Reader = rec.Body
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	dec := expfmt.NewDecoder(body, expfmt.Format(rec.Header().Get("Content-Type")))
	mfs := map[string]*dto.MetricFamily{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding the answer: %v", err)
		}
		if mfs[mf.GetName()] != nil {
			t.Fatalf("family %s twice", mf.GetName())
		}
		mfs[mf.GetName()] = &mf
	}
	return mfs
}

// TestOtherFormatsGoThroughTheRegistry: protobuf (asked for with native
// histograms) and the name[] filter are promhttp's, with the same series.
func TestOtherFormatsGoThroughTheRegistry(t *testing.T) {
	f := hostileFleet(500)
	s, own := newScrape(t, f, collector.Options{Devices: true}, false)
	text := get(t, s, own, http.Header{"Accept": {"text/plain;version=0.0.4"}}, "")
	want := familiesText(t, decode(t, text))

	proto := get(t, s, own, http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}}, "")
	if ct := proto.Header().Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Fatalf("Content-Type %q", ct)
	}
	if got := familiesText(t, decode(t, proto)); got != want {
		t.Errorf("protobuf and text differ:\n%s", firstDiff(got, want))
	}

	filtered := decode(t, get(t, s, own, http.Header{"Accept": {"text/plain;version=0.0.4"}}, "?name[]=safeconsole_device_online&name[]=safeconsole_up"))
	if len(filtered) != 2 || len(filtered["safeconsole_device_online"].GetMetric()) != f.DeviceCount() {
		t.Errorf("name[] filter: got %d families", len(filtered))
	}
}

// TestCompressionAsPromhttp: the direct path picks gzip or identity for
// every Accept-Encoding as promhttp does, and the compressed answer holds
// the same series. One knowing difference: content codings are
// case-insensitive (RFC 9110, 8.4.1), which promhttp does not honour.
func TestCompressionAsPromhttp(t *testing.T) {
	f := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 3, Devices: 200})
	s, own := newScrape(t, f, collector.Options{Devices: true}, false)
	plain := familiesText(t, decode(t, get(t, s, own, http.Header{"Accept": {"text/plain"}}, "")))
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector(true))
	for _, ae := range []string{
		"", "gzip", "GZIP", "identity", "gzip, identity", "identity, gzip", "gzip;q=0.5, identity;q=0.9",
		"identity;q=0.1, gzip;q=0.8", "gzip;q=0", "*", "*;q=0", "br", "deflate, gzip;q=1.0, *;q=0.5",
		"gzip;q=abc", "gzip ; q=1", "zstd", "x-gzip",
	} {
		h := http.Header{"Accept": {"text/plain"}}
		if ae != "" {
			h.Set("Accept-Encoding", ae)
		}
		rec := get(t, s, own, h, "")

		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header = h.Clone()
		ref := httptest.NewRecorder()
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{OfferedCompressions: []promhttp.Compression{promhttp.Identity, promhttp.Gzip}}).ServeHTTP(ref, req)
		want := ref.Header().Get("Content-Encoding")
		if ae == "GZIP" {
			want = "gzip"
		}
		if got := rec.Header().Get("Content-Encoding"); got != want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, promhttp says %q", ae, got, want)
		}
		if got := familiesText(t, decode(t, rec)); got != plain {
			t.Errorf("Accept-Encoding %q: series differ:\n%s", ae, firstDiff(got, plain))
		}
		if vary := rec.Header().Values("Vary"); !slices.Contains(vary, "Accept") || !slices.Contains(vary, "Accept-Encoding") {
			t.Errorf("Vary %q", vary)
		}
	}
}

type brokenWriter struct {
	h      http.Header
	writes int
}

func (b *brokenWriter) Header() http.Header { return b.h }
func (b *brokenWriter) WriteHeader(int)     {}
func (b *brokenWriter) Write(p []byte) (int, error) {
	b.writes++
	if b.writes > 2 {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

type countingLog struct{ lines []string }

func (c *countingLog) Println(v ...any) { c.lines = append(c.lines, fmt.Sprintln(v...)) }

// TestClientGoingAway: a client that stops reading ends the answer with
// one log line, plain or compressed, and nothing keeps running.
func TestClientGoingAway(t *testing.T) {
	f := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 3, Devices: 20000})
	s, own := newScrape(t, f, collector.Options{Devices: true}, false)
	before := runtime.NumGoroutine()
	for _, ae := range []string{"", "gzip"} {
		w := &brokenWriter{h: http.Header{}}
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", ae)
		var log countingLog
		metricshttp.Serve(w, req, s, own, &log)
		if len(log.lines) != 1 || !strings.Contains(log.lines[0], io.ErrClosedPipe.Error()) {
			t.Errorf("Accept-Encoding %q: logged %q, want one line with the write error", ae, log.lines)
		}
		if w.writes > 3 {
			t.Errorf("Accept-Encoding %q: %d writes after the client went away", ae, w.writes-3)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines running, %d before", n, before)
	}
}
