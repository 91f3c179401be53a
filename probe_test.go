package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// probeEnv is an exporter started from a module file, in front of three
// simulated SafeConsole servers with different tokens and fleets: alpha
// and beta are allowed by the file's modules, other by none of them.
type probeEnv struct {
	t    *testing.T
	dir  string
	file string

	alpha, beta, other                *safeconsoletest.Server
	alphaToken, betaToken, otherToken string

	ex     *exporter
	server *httptest.Server
	logs   *probeLogBuffer
}

type probeLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *probeLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *probeLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newProbeEnv(t *testing.T, extraFlags ...string) *probeEnv {
	t.Helper()
	e := &probeEnv{t: t, dir: t.TempDir(), logs: &probeLogBuffer{}}
	exp := time.Now().Add(48 * time.Hour)
	e.alphaToken = safeconsoletest.MakeToken(exp, map[string]any{"realm": "alpha"})
	e.betaToken = safeconsoletest.MakeToken(exp, map[string]any{"realm": "beta"})
	e.otherToken = safeconsoletest.MakeToken(exp, map[string]any{"realm": "other"})
	e.alpha = safeconsoletest.NewServer(safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 11, Devices: 500}), safeconsoletest.WithToken(e.alphaToken))
	e.beta = safeconsoletest.NewServer(safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 22, Devices: 300}), safeconsoletest.WithToken(e.betaToken))
	e.other = safeconsoletest.NewServer(safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 33, Devices: 40}), safeconsoletest.WithToken(e.otherToken))
	t.Cleanup(e.alpha.Close)
	t.Cleanup(e.beta.Close)
	t.Cleanup(e.other.Close)
	for name, tok := range map[string]string{"alpha.token": e.alphaToken, "beta.token": e.betaToken, "other.token": e.otherToken} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.file = filepath.Join(e.dir, "safeconsole.yml")
	e.writeModules(e.goodModules())

	s, _, err := parseFlags(append([]string{"--config.file", e.file}, extraFlags...), io.Discard)
	if err != nil {
		t.Fatalf("flags: %v", err)
	}
	logger := log.NewLogfmtLogger(log.NewSyncWriter(e.logs))
	e.ex, err = newExporter(s, logger)
	if err != nil {
		t.Fatalf("newExporter: %v", err)
	}
	e.server = httptest.NewServer(e.ex.handler)
	t.Cleanup(func() {
		e.server.Close()
		e.ex.close()
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.logs.String())
		}
	})
	return e
}

// goodModules allows alpha by an explicit target list and beta by a
// pattern on its port; each module has its own token.
func (e *probeEnv) goodModules() string {
	return fmt.Sprintf(`modules:
  alpha:
    targets: [%s]
    allow_insecure_http: true
    token_file: alpha.token
    page_size: 50
    concurrency: 3
  beta:
    target_pattern: '^http://127\.0\.0\.1:%s$'
    allow_insecure_http: true
    token_file: beta.token
    page_size: 70
    devices: false
    timeout: 3s
`, e.alpha.URL, targetPort(e.t, e.beta.URL))
}

func targetPort(t *testing.T, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func targetHost(base string) string { return strings.TrimPrefix(base, "http://") }

func (e *probeEnv) writeModules(content string) {
	e.t.Helper()
	if err := os.WriteFile(e.file, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *probeEnv) do(method, path string, header http.Header) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.server.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.server.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return resp.StatusCode, string(body)
}

func (e *probeEnv) probe(module, target string) (int, string) {
	return e.do(http.MethodGet, probeURL(module, target), nil)
}

func probeURL(module, target string) string {
	q := url.Values{}
	if module != "" {
		q.Set("module", module)
	}
	if target != "" {
		q.Set("target", target)
	}
	return probePath + "?" + q.Encode()
}

func parseExposition(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, body)
	}
	return mfs
}

func probeLabels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// gaugeValue returns the value of an unlabelled gauge; ok is false when the
// family is absent.
func probeGauge(mfs map[string]*dto.MetricFamily, name string) (float64, bool) {
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		return 0, false
	}
	return mf.GetMetric()[0].GetGauge().GetValue(), true
}

// devicesByKey reads safeconsole_devices into the simulator's tally shape.
func devicesByKey(mfs map[string]*dto.MetricFamily) map[safeconsoletest.DeviceKey]int {
	out := map[safeconsoletest.DeviceKey]int{}
	for _, m := range mfs["safeconsole_devices"].GetMetric() {
		l := probeLabels(m)
		out[safeconsoletest.DeviceKey{OU: l["ou"], Country: l["country"], Version: l["version"], Status: l["status"]}] = int(m.GetGauge().GetValue())
	}
	return out
}

// checkFleet asserts that a probe's answer is exactly srv's fleet.
func checkFleet(t *testing.T, what string, mfs map[string]*dto.MetricFamily, srv *safeconsoletest.Server) {
	t.Helper()
	if up, _ := probeGauge(mfs, "safeconsole_up"); up != 1 {
		t.Fatalf("%s: safeconsole_up = %v, want 1", what, up)
	}
	want := srv.Fleet().Tally(safeconsoletest.TallyOptions{}).Devices
	got := devicesByKey(mfs)
	total := 0
	for k, n := range got {
		total += n
		if want[k] != n {
			t.Errorf("%s: safeconsole_devices%v = %d, want %d", what, k, n, want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d safeconsole_devices series, want %d", what, len(got), len(want))
	}
	if total != srv.Fleet().DeviceCount() {
		t.Errorf("%s: safeconsole_devices sums to %d, want the fleet's %d", what, total, srv.Fleet().DeviceCount())
	}
}

// apiRequestsByTarget sums safeconsole_api_requests_total per target label.
func apiRequestsByTarget(mfs map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mfs["safeconsole_api_requests_total"].GetMetric() {
		out[probeLabels(m)["target"]] += m.GetCounter().GetValue()
	}
	return out
}

func TestProbeEachServerItsOwnFleet(t *testing.T) {
	e := newProbeEnv(t)

	code, body := e.probe("alpha", e.alpha.URL)
	if code != http.StatusOK {
		t.Fatalf("probe alpha: %d %s", code, body)
	}
	alpha := parseExposition(t, body)
	checkFleet(t, "alpha", alpha, e.alpha)
	if alpha["safeconsole_device_info"] == nil {
		t.Error("alpha leaves devices on: safeconsole_device_info is missing")
	}

	// A trailing slash and upper case spell the same target.
	code, body = e.probe("beta", strings.ToUpper(e.beta.URL)+"/")
	if code != http.StatusOK {
		t.Fatalf("probe beta: %d %s", code, body)
	}
	beta := parseExposition(t, body)
	checkFleet(t, "beta", beta, e.beta)
	if beta["safeconsole_device_info"] != nil {
		t.Error("beta sets devices: false, yet safeconsole_device_info is present")
	}
	if alpha["safeconsole_exporter_build_info"] != nil || alpha["safeconsole_api_requests_total"] != nil {
		t.Error("a probe must carry the server's metrics only; the exporter's own are on /metrics")
	}

	// Each server saw its own token and nothing else.
	if got := e.alpha.ObservedTokens(); len(got) != 1 || got[0] != e.alphaToken {
		t.Errorf("alpha saw tokens %d, want only alpha's", len(got))
	}
	if got := e.beta.ObservedTokens(); len(got) != 1 || got[0] != e.betaToken {
		t.Errorf("beta saw tokens %d, want only beta's", len(got))
	}

	// /metrics counts every target's requests under its own label.
	code, body = e.do(http.MethodGet, "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	own := parseExposition(t, body)
	byTarget := apiRequestsByTarget(own)
	if got, want := byTarget[targetHost(e.alpha.URL)], float64(e.alpha.RequestsTotal()); got != want || want == 0 {
		t.Errorf("api requests for alpha = %v, simulator counted %v", got, want)
	}
	if got, want := byTarget[targetHost(e.beta.URL)], float64(e.beta.RequestsTotal()); got != want || want == 0 {
		t.Errorf("api requests for beta = %v, simulator counted %v", got, want)
	}
	if len(byTarget) != 2 {
		t.Errorf("api request targets = %v, want alpha and beta", byTarget)
	}
	if own["safeconsole_up"] != nil {
		t.Error("without --safeconsole.url, /metrics must not collect a server")
	}
	if own["safeconsole_exporter_build_info"] == nil {
		t.Error("/metrics lacks the exporter's own metrics")
	}
	if v, ok := probeGauge(own, "safeconsole_exporter_config_last_reload_successful"); !ok || v != 1 {
		t.Errorf("last_reload_successful = %v (present %v), want 1", v, ok)
	}
}

func TestProbeRefusals(t *testing.T) {
	e := newProbeEnv(t)
	alphaBefore, betaBefore := e.alpha.RequestsTotal(), e.beta.RequestsTotal()
	for _, tc := range []struct {
		name, method, path string
		code               int
		want               string
	}{
		{"missing module", "GET", probeURL("", e.alpha.URL), 400, "missing module"},
		{"unknown module", "GET", probeURL("gamma", e.alpha.URL), 400, `unknown module "gamma"`},
		{"missing target", "GET", probeURL("alpha", ""), 400, "missing target"},
		{"disallowed host", "GET", probeURL("alpha", e.other.URL), 400, "not allowed by module \"alpha\""},
		{"disallowed by pattern", "GET", probeURL("beta", e.other.URL), 400, "not allowed by module \"beta\""},
		{"other module's server", "GET", probeURL("alpha", e.beta.URL), 400, "not allowed"},
		{"pattern target with a path", "GET", probeURL("beta", e.beta.URL+"/x"), 400, "has a path"},
		{"https variant", "GET", probeURL("alpha", strings.Replace(e.other.URL, "http:", "https:", 1)), 400, "not allowed"},
		{"credentials in the URL", "GET", probeURL("alpha", "http://u:p@"+targetHost(e.other.URL)), 400, "credentials"},
		{"token parameter", "GET", probeURL("alpha", e.alpha.URL) + "&token=" + url.QueryEscape(e.alphaToken), 400, `unknown parameter "token"`},
		{"token_file parameter", "GET", probeURL("alpha", e.alpha.URL) + "&token_file=/etc/passwd", 400, "unknown parameter"},
		{"repeated target", "GET", probeURL("alpha", e.alpha.URL) + "&target=" + url.QueryEscape(e.other.URL), 400, "given 2 times"},
		{"POST", "POST", probeURL("alpha", e.alpha.URL), 405, "GET"},
	} {
		code, body := e.do(tc.method, tc.path, nil)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if n := e.other.RequestsTotal(); n != 0 {
		t.Errorf("the disallowed server received %d requests", n)
	}
	if toks := e.other.ObservedTokens(); len(toks) != 0 {
		t.Errorf("the disallowed server received %d tokens", len(toks))
	}
	if e.alpha.RequestsTotal() != alphaBefore || e.beta.RequestsTotal() != betaBefore {
		t.Error("a refused probe sent requests to an allowed server")
	}
	_, body := e.do(http.MethodGet, "/metrics", nil)
	if n := apiRequestsByTarget(parseExposition(t, body)); len(n) != 0 {
		t.Errorf("refused probes counted API requests: %v", n)
	}
}

func TestProbeDeadline(t *testing.T) {
	e := newProbeEnv(t)
	hdr := http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"100"}}

	// alpha sets no timeout: Prometheus' timeout minus the offset (0.5s),
	// which is far above the 10s fallback.
	_, body := e.do(http.MethodGet, probeURL("alpha", e.alpha.URL), hdr)
	v, _ := probeGauge(parseExposition(t, body), "safeconsole_scrape_timeout_seconds")
	if v > 99.5 || v <= 10 {
		t.Errorf("alpha ran under %vs, want Prometheus' 100s minus the 0.5s offset", v)
	}
	// beta's module timeout (3s) caps it.
	_, body = e.do(http.MethodGet, probeURL("beta", e.beta.URL), hdr)
	v, _ = probeGauge(parseExposition(t, body), "safeconsole_scrape_timeout_seconds")
	if v > 3 || v <= 0 {
		t.Errorf("beta ran under %vs, want its module timeout of 3s", v)
	}
}

// waitingCollections counts goroutines waiting in a collector for a
// collection: the one that started it and every one that joined it. The
// collector offers no hook for this, and the stacks say it exactly.
func waitingCollections() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "collector.(*Collector).snapshot(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func TestProbeOverlappingProbesShareOneCollection(t *testing.T) {
	e := newProbeEnv(t)

	// One probe alone says what a scan of alpha costs.
	if code, body := e.probe("alpha", e.alpha.URL); code != 200 {
		t.Fatalf("probe: %d %s", code, body)
	}
	oneScan := e.alpha.RequestsTotal()
	if oneScan < 3 {
		t.Fatalf("a scan of alpha took %d requests; the fleet should need several pages", oneScan)
	}
	e.alpha.ResetCounters()

	// Hold the first list page until every probe waits for the collection,
	// so that they overlap for certain, whatever the machine's speed.
	const probes = 6
	release := make(chan struct{})
	releaseAll := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseAll) // before the servers close, should the test stop early
	e.alpha.OnPage(func(page int) {
		if page == 0 {
			<-release
		}
	})
	before := waitingCollections()
	var wg sync.WaitGroup
	bodies := make([]string, probes)
	codes := make([]int, probes)
	for i := range probes {
		wg.Go(func() {
			codes[i], bodies[i] = e.do(http.MethodGet, probeURL("alpha", e.alpha.URL),
				http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {"300"}})
		})
	}
	probeWaitFor(t, "all probes to wait for the collection", e.logs, func() bool {
		return waitingCollections()-before >= probes
	})
	releaseAll()
	wg.Wait()
	e.alpha.OnPage(nil)

	if got := e.alpha.RequestsTotal(); got != oneScan {
		t.Errorf("%d overlapping probes made %d requests, one scan makes %d", probes, got, oneScan)
	}
	for i := range probes {
		if codes[i] != 200 {
			t.Fatalf("probe %d: %d %s", i, codes[i], bodies[i])
		}
		mfs := parseExposition(t, bodies[i])
		checkFleet(t, fmt.Sprintf("probe %d", i), mfs, e.alpha)
		if v, _ := probeGauge(mfs, "safeconsole_scrape_requests"); v != float64(oneScan) {
			t.Errorf("probe %d reports %v requests, want the shared scan's %d", i, v, oneScan)
		}
	}
}

func TestProbeReloadEndpoint(t *testing.T) {
	e := newProbeEnv(t)
	own := func() map[string]*dto.MetricFamily {
		_, body := e.do(http.MethodGet, "/metrics", nil)
		return parseExposition(t, body)
	}
	okAt, _ := probeGauge(own(), "safeconsole_exporter_config_last_reload_success_timestamp_seconds")
	if okAt <= 0 {
		t.Fatalf("success timestamp = %v after the first load", okAt)
	}

	if code, _ := e.do(http.MethodGet, reloadPath, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s = %d, want 405", reloadPath, code)
	}

	for _, broken := range []struct{ name, file, want string }{
		{"YAML syntax", "modules:\n  alpha: [\n", "parsing YAML"},
		{"unknown key", e.goodModules() + "    colour: blue\n", "colour"},
		{"pattern for any host", strings.Replace(e.goodModules(), `'^http://127\.0\.0\.1:`+targetPort(t, e.beta.URL)+`$'`, `'^http://.*$'`, 1), "matches any host"},
		{"missing token file", strings.Replace(e.goodModules(), "alpha.token", "gone.token", 1), "gone.token"},
	} {
		e.writeModules(broken.file)
		code, body := e.do(http.MethodPost, reloadPath, nil)
		if code != http.StatusInternalServerError || !strings.Contains(body, broken.want) || !strings.Contains(body, "previous configuration stays in force") {
			t.Errorf("reload with %s: %d %q, want 500 naming %q", broken.name, code, body, broken.want)
		}
		mfs := own()
		if v, _ := probeGauge(mfs, "safeconsole_exporter_config_last_reload_successful"); v != 0 {
			t.Errorf("after %s: last_reload_successful = %v, want 0", broken.name, v)
		}
		if v, _ := probeGauge(mfs, "safeconsole_exporter_config_last_reload_success_timestamp_seconds"); v != okAt {
			t.Errorf("after %s: success timestamp moved from %v to %v", broken.name, okAt, v)
		}
		// The old configuration still serves.
		code, body = e.probe("alpha", e.alpha.URL)
		if code != http.StatusOK {
			t.Fatalf("after %s: probe alpha = %d %s", broken.name, code, body)
		}
		checkFleet(t, "alpha after "+broken.name, parseExposition(t, body), e.alpha)
	}
	if !strings.Contains(e.logs.String(), "previous configuration stays in force") {
		t.Error("a refused reload was not logged")
	}

	// A good file takes effect: alpha is gone, gamma reads the third server
	// with its own token.
	e.writeModules(fmt.Sprintf(`modules:
  gamma:
    targets: [%s]
    allow_insecure_http: true
    token_file: other.token
`, e.other.URL))
	if code, body := e.do(http.MethodPost, reloadPath, nil); code != http.StatusOK {
		t.Fatalf("reload with a good file: %d %s", code, body)
	}
	mfs := own()
	if v, _ := probeGauge(mfs, "safeconsole_exporter_config_last_reload_successful"); v != 1 {
		t.Errorf("last_reload_successful = %v after a good reload", v)
	}
	if v, _ := probeGauge(mfs, "safeconsole_exporter_config_last_reload_success_timestamp_seconds"); v < okAt {
		t.Errorf("success timestamp went back from %v to %v", okAt, v)
	}
	if code, body := e.probe("alpha", e.alpha.URL); code != http.StatusBadRequest || !strings.Contains(body, "unknown module") {
		t.Errorf("alpha after the reload: %d %q, want 400 unknown module", code, body)
	}
	code, body := e.probe("gamma", e.other.URL)
	if code != http.StatusOK {
		t.Fatalf("gamma: %d %s", code, body)
	}
	checkFleet(t, "gamma", parseExposition(t, body), e.other)
	if toks := e.other.ObservedTokens(); len(toks) != 1 || toks[0] != e.otherToken {
		t.Errorf("the third server saw %d tokens, want only its own", len(toks))
	}
}

func TestProbeSingleServerFlagsStillServeMetrics(t *testing.T) {
	e := newProbeEnv(t, "--demo", "--demo.devices=60", "--demo.latency=0s")
	_, body := e.do(http.MethodGet, "/metrics", nil)
	mfs := parseExposition(t, body)
	if up, _ := probeGauge(mfs, "safeconsole_up"); up != 1 {
		t.Errorf("with --demo and --config.file, /metrics safeconsole_up = %v, want 1", up)
	}
	total := 0
	for _, n := range devicesByKey(mfs) {
		total += n
	}
	if total != 60 {
		t.Errorf("/metrics reports %d drives, the demo fleet has 60", total)
	}
	if code, body := e.probe("alpha", e.alpha.URL); code != http.StatusOK {
		t.Errorf("probe next to the single server: %d %s", code, body)
	}
}

func TestProbeWithoutModuleFileOrServer(t *testing.T) {
	// Without --config.file the single server stays required, as before.
	s, _, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newExporter(s, log.NewNopLogger()); err == nil || !strings.Contains(err.Error(), "--safeconsole.url") {
		t.Errorf("no server and no module file: err = %v, want one naming --safeconsole.url", err)
	}
	// A module file that does not load stops the start.
	s, _, err = parseFlags([]string{"--config.file", filepath.Join(t.TempDir(), "missing.yml")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newExporter(s, log.NewNopLogger()); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Errorf("missing module file: err = %v", err)
	}
}

func TestProbeLandingPage(t *testing.T) {
	e := newProbeEnv(t)
	code, body := e.do(http.MethodGet, "/", nil)
	if code != 200 {
		t.Fatalf("/: %d", code)
	}
	for _, want := range []string{`action="/probe"`, `name="module"`, `name="target"`, "/probe?module="} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	e := newProbeEnv(t)
	var out, errOut bytes.Buffer
	if code := runWith([]string{"--config.file", e.file, "--config.check"}, &out, &errOut); code != 0 {
		t.Fatalf("--config.check on a good file: exit %d, %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "is valid") || !strings.Contains(out.String(), "alpha, beta") {
		t.Errorf("--config.check said %q", out.String())
	}

	bad := filepath.Join(e.dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("modules:\n  x:\n    targets: [https://a.example.com]\n    token_file: alpha.token\n    page_sise: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--config.file", bad, "--config.check"},
		{"--config.file", filepath.Join(e.dir, "missing.yml"), "--config.check"},
		{"--config.check"},
	} {
		out.Reset()
		errOut.Reset()
		if code := runWith(args, &out, &errOut); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if errOut.Len() == 0 || out.Len() != 0 {
			t.Errorf("%v: stdout %q, stderr %q; want the reason on stderr", args, out.String(), errOut.String())
		}
	}
	if !strings.Contains(errOut.String(), "--config.file") {
		t.Errorf("--config.check alone: %q", errOut.String())
	}
	if e.alpha.RequestsTotal() != 0 || e.beta.RequestsTotal() != 0 {
		t.Error("--config.check contacted a server")
	}
}

func TestCollectorCacheIsBounded(t *testing.T) {
	c := newCollectorCache(2)
	builds := map[string]int{}
	get := func(target string) *collector.Collector {
		coll, err := c.get(cacheKey{module: "m", target: target}, func() (*collector.Collector, error) {
			builds[target]++
			return collector.New(nil, collector.Options{})
		})
		if err != nil {
			t.Fatal(err)
		}
		return coll
	}
	a := get("a")
	if get("a") != a {
		t.Error("a second get built a new collector")
	}
	get("b")
	get("a") // a is now the most recent
	get("c") // evicts b
	if c.len() != 2 {
		t.Errorf("cache holds %d collectors, bound is 2", c.len())
	}
	get("a")
	get("b")
	if builds["a"] != 1 || builds["b"] != 2 || builds["c"] != 1 {
		t.Errorf("builds = %v, want a kept and b rebuilt after eviction", builds)
	}
}

func TestProbeSIGHUPReload(t *testing.T) {
	e := newProbeEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := watchReloadSignal(ctx, e.ex.reloader)
	defer stop()
	reloadOK := func() float64 {
		_, body := e.do(http.MethodGet, "/metrics", nil)
		v, _ := probeGauge(parseExposition(t, body), "safeconsole_exporter_config_last_reload_successful")
		return v
	}
	hangUp := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	// A broken file on SIGHUP: refused, logged, old modules still serve.
	e.writeModules("modules:\n  alpha: {targets: [https://a.example.com], token_file: alpha.token, page_sise: 1}\n")
	hangUp()
	probeWaitFor(t, "the refused reload", e.logs, func() bool { return reloadOK() == 0 })
	if !strings.Contains(e.logs.String(), "page_sise") {
		t.Errorf("the refusal's reason is not in the log")
	}
	code, body := e.probe("beta", e.beta.URL)
	if code != 200 {
		t.Fatalf("beta after a refused reload: %d %s", code, body)
	}
	checkFleet(t, "beta after a refused reload", parseExposition(t, body), e.beta)

	// A good file on SIGHUP takes effect.
	e.writeModules(fmt.Sprintf("modules:\n  gamma:\n    targets: [%s]\n    allow_insecure_http: true\n    token_file: other.token\n", e.other.URL))
	hangUp()
	probeWaitFor(t, "the good reload", e.logs, func() bool { return reloadOK() == 1 })
	code, body = e.probe("gamma", e.other.URL)
	if code != 200 {
		t.Fatalf("gamma: %d %s", code, body)
	}
	checkFleet(t, "gamma", parseExposition(t, body), e.other)
	if code, _ := e.probe("beta", e.beta.URL); code != 400 {
		t.Errorf("beta after it was removed: %d, want 400", code)
	}
}

// probeWaitFor polls cond until it holds. The bound only stops a broken test
// from hanging; nothing is measured.
func probeWaitFor(t *testing.T, what string, logs *probeLogBuffer, cond func() bool) {
	t.Helper()
	for range 6000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s; log:\n%s", what, logs.String())
}

// idleCounter is a scanner that only counts CloseIdleConnections calls.
type idleCounter struct {
	collector.Scanner
	closed *int
}

func (i idleCounter) CloseIdleConnections() { *i.closed++ }

func TestEvictedCollectorsReleaseIdleConnections(t *testing.T) {
	c := newCollectorCache(1)
	closed := map[string]*int{"a": new(int), "b": new(int)}
	for _, target := range []string{"a", "b"} {
		if _, err := c.get(cacheKey{module: "m", target: target}, func() (*collector.Collector, error) {
			return collector.New(idleCounter{closed: closed[target]}, collector.Options{})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if *closed["a"] != 1 || *closed["b"] != 0 {
		t.Errorf("after evicting a: closed a=%d b=%d, want 1 and 0", *closed["a"], *closed["b"])
	}
	c.closeIdle() // as a reload does with the cache it replaces
	if *closed["b"] != 1 {
		t.Errorf("closeIdle did not release b's connections")
	}
}
