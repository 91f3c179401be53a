package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// The end-to-end tests run the real binary, so that they see exactly what
// an operator sees: its flags, its HTTP server and all of its log output.
var exporterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "safeconsole-exporter-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exporterBin = filepath.Join(dir, "safeconsole_exporter")
	build := exec.Command("go", "build", "-o", exporterBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type runningExporter struct {
	addr string
	logs *lockedBuffer
}

var listenLogRE = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// startExporter runs the binary with args on a free loopback port and
// returns once it listens. It is stopped when the test ends.
func startExporter(t *testing.T, env []string, args ...string) *runningExporter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, exporterBin, append([]string{"--web.listen-address=127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &runningExporter{logs: &lockedBuffer{}}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
		cmd.Wait()
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.logs.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		defer close(done)
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			e.logs.Write([]byte(line))
			if m := listenLogRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case e.addr = <-found:
	case <-done:
		t.Fatalf("the exporter exited before listening:\n%s", e.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the exporter did not start listening:\n%s", e.logs.String())
	}
	return e
}

// waitForLines waits until the log holds n lines: the exporter writes its
// log before it answers, but the pipe may deliver it a moment later.
func (e *runningExporter) waitForLines(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < 500 && strings.Count(e.logs.String(), "\n") < n; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// problemLines returns the warning and error lines logged after the first
// `after` lines (start-up lines may still arrive while a test runs).
func (e *runningExporter) problemLines(after int) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n")[after:] {
		if strings.Contains(l, "level=error") || strings.Contains(l, "level=warn") {
			out = append(out, l)
		}
	}
	return out
}

// scrape GETs /metrics like Prometheus with the given scrape timeout and
// returns the parsed families.
func (e *runningExporter) scrape(t *testing.T, timeout time.Duration) map[string]*model.Sample {
	t.Helper()
	body := e.get(t, "/metrics", timeout)
	return samples(t, body)
}

func (e *runningExporter) get(t *testing.T, path string, timeout time.Duration) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+path, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprint(timeout.Seconds()))
	// The client gives up when Prometheus would: an answer after that is
	// as good as none.
	client := &http.Client{Timeout: timeout}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, err %v", path, resp.StatusCode, err)
	}
	return b
}

// samples indexes an exposition by series, e.g. `safeconsole_up` or
// `safeconsole_users{ou="00.default"}`.
func samples(t *testing.T, body []byte) map[string]*model.Sample {
	t.Helper()
	dec := expfmt.SampleDecoder{
		Dec:  expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeTextPlain)),
		Opts: &expfmt.DecodeOptions{Timestamp: model.Now()},
	}
	var all model.Vector
	if err := dec.Decode(&all); err != nil && err != io.EOF {
		t.Fatalf("parsing the exposition: %v", err)
	}
	for {
		var v model.Vector
		if err := dec.Decode(&v); err != nil {
			break
		}
		all = append(all, v...)
	}
	out := make(map[string]*model.Sample, len(all))
	for _, s := range all {
		out[s.Metric.String()] = s
	}
	return out
}

func value(t *testing.T, s map[string]*model.Sample, series string) float64 {
	t.Helper()
	v, ok := s[series]
	if !ok {
		t.Fatalf("series %s missing", series)
	}
	return float64(v.Value)
}

func sum(s map[string]*model.Sample, name string) (total float64) {
	for _, v := range s {
		if string(v.Metric[model.MetricNameLabel]) == name {
			total += float64(v.Value)
		}
	}
	return total
}

type simulated struct {
	srv       *safeconsoletest.Server
	fleet     *safeconsoletest.Fleet
	tokenFile string
	token     string
}

func newSimulated(t *testing.T, devices int, opts ...safeconsoletest.Option) *simulated {
	t.Helper()
	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 3, Devices: devices})
	token := safeconsoletest.MakeToken(time.Now().Add(40*24*time.Hour), nil)
	srv := safeconsoletest.NewServer(fleet, append([]safeconsoletest.Option{safeconsoletest.WithToken(token)}, opts...)...)
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &simulated{srv: srv, fleet: fleet, tokenFile: tokenFile, token: token}
}

func (s *simulated) args(extra ...string) []string {
	return append([]string{"--safeconsole.url=" + s.srv.URL, "--safeconsole.token-file=" + s.tokenFile,
		"--safeconsole.allow-insecure-http", "--safeconsole.page-size=50"}, extra...)
}

func TestDemoModeServesAFleet(t *testing.T) {
	e := startExporter(t, nil, "--demo", "--demo.devices=1200", "--demo.latency=0s")
	s := e.scrape(t, 10*time.Second)
	if value(t, s, "safeconsole_up") != 1 {
		t.Fatalf("safeconsole_up is not 1")
	}
	if got := sum(s, "safeconsole_devices"); got != 1200 {
		t.Errorf("demo fleet: safeconsole_devices sums to %v, want 1200", got)
	}
	if got := sum(s, "safeconsole_exporter_build_info"); got != 1 {
		t.Errorf("build info missing")
	}
	landing := string(e.get(t, "/", 5*time.Second))
	if !strings.Contains(landing, "SafeConsole") || !strings.Contains(landing, "/metrics") {
		t.Errorf("the landing page does not link the metrics:\n%s", landing)
	}

	// The whole exposition, the exporter's own metrics included, passes
	// the Prometheus linter.
	problems, err := promlint.New(bytes.NewReader(e.get(t, "/metrics", 10*time.Second))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Fifty scrapes at once, as from several Prometheus replicas, cause one
// paged collection upstream.
func TestConcurrentScrapesShareOneCollection(t *testing.T) {
	sim := newSimulated(t, 2000, safeconsoletest.WithLatency(20*time.Millisecond))
	e := startExporter(t, nil, sim.args("--web.max-requests=100")...)

	const scrapes = 50
	var wrote sync.WaitGroup
	wrote.Add(scrapes)
	release := make(chan struct{})
	var once sync.Once
	sim.srv.OnPage(func(page int) {
		if page == 0 {
			once.Do(func() { <-release })
		}
	})
	results := make([]map[string]*model.Sample, scrapes)
	var done sync.WaitGroup
	for i := 0; i < scrapes; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Done() }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "http://"+e.addr+"/metrics", nil)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "30")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results[i] = samples(t, b)
		}()
	}
	// Hold the first page until every scrape has been sent, so that they
	// all arrive while the collection is under way.
	wrote.Wait()
	close(release)
	done.Wait()

	pages := (len(sim.fleet.Users) + 49) / 50
	if got := sim.srv.Requests("get_users"); got != int64(pages) {
		t.Errorf("%d concurrent scrapes made %d list requests, want one collection's %d", scrapes, got, pages)
	}
	if got := sim.srv.Requests("get_ous"); got != 1 {
		t.Errorf("get_ous requested %d times, want 1", got)
	}
	for i, r := range results {
		if r == nil {
			continue
		}
		if value(t, r, "safeconsole_up") != 1 || sum(r, "safeconsole_devices") != 2000 {
			t.Errorf("scrape %d: up %v, drives %v", i, value(t, r, "safeconsole_up"), sum(r, "safeconsole_devices"))
		}
	}
}

// Every fault ends the scrape with safeconsole_up 0 and one clear log line
// without the token, and the exporter goes on serving; a server slower than
// the deadline is abandoned before Prometheus' scrape timeout.
func TestFaultsOverHTTP(t *testing.T) {
	sim := newSimulated(t, 300)
	e := startExporter(t, nil, sim.args("--safeconsole.max-retries=1", "--safeconsole.max-response-size=1048576")...)
	list := "get_users"
	for _, tc := range []struct {
		name  string
		fault safeconsoletest.Fault
		says  string
	}{
		{"401", safeconsoletest.Fault{Action: list, Page: -1, Status: 401}, "invalid or expired"},
		{"403", safeconsoletest.Fault{Action: list, Page: -1, Status: 403}, "created by the SafeConsole owner"},
		{"404", safeconsoletest.Fault{Action: list, Page: -1, Status: 404}, "--safeconsole.list-action"},
		{"429", safeconsoletest.Fault{Action: list, Page: -1, Status: 429, RetryAfter: "0"}, "rate limiting"},
		{"500", safeconsoletest.Fault{Action: list, Page: 1, Status: 500}, "HTTP 500"},
		{"503", safeconsoletest.Fault{Action: list, Page: -1, Status: 503}, "HTTP 503"},
		{"malformed JSON", safeconsoletest.Fault{Action: list, Page: 2, Body: []byte(`{"total":`)}, "malformed JSON"},
		{"truncated JSON", safeconsoletest.Fault{Action: list, Page: 0, Truncate: true}, "reading the answer"},
		{"success false", safeconsoletest.Fault{Action: list, Page: 0, SuccessFalse: true}, `\"success\": false`},
		{"inconsistent totals", safeconsoletest.Fault{Action: list, Page: -1, TotalDelta: 9}, "distinct"},
		{"hostile size", safeconsoletest.Fault{Action: list, Page: 0, Oversize: 8 << 20}, "byte limit"},
		{"slower than the deadline", safeconsoletest.Fault{Action: list, Page: 1, Hang: true}, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim.srv.ClearFaults()
			sim.srv.AddFault(tc.fault)
			before := strings.Count(e.logs.String(), "\n")
			s := e.scrape(t, 3*time.Second)
			if v := value(t, s, "safeconsole_up"); v != 0 {
				t.Errorf("safeconsole_up = %v, want 0", v)
			}
			if n := sum(s, "safeconsole_devices"); n != 0 {
				t.Errorf("a failed scrape reported %v drives", n)
			}
			e.waitForLines(t, before+1)
			// The exporter keeps serving.
			sim.srv.ClearFaults()
			if v := value(t, e.scrape(t, 10*time.Second), "safeconsole_up"); v != 1 {
				t.Errorf("after the fault cleared, safeconsole_up = %v", v)
			}
			lines := e.problemLines(before)
			if len(lines) != 1 || !strings.Contains(lines[0], "level=error") || !strings.Contains(lines[0], tc.says) {
				t.Errorf("want one error line saying %q, got:\n%s", tc.says, strings.Join(lines, "\n"))
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		sim.srv.Close()
		before := strings.Count(e.logs.String(), "\n")
		s := e.scrape(t, 3*time.Second)
		if value(t, s, "safeconsole_up") != 0 {
			t.Errorf("safeconsole_up is not 0 with the server gone")
		}
		e.waitForLines(t, before+1)
		lines := e.problemLines(before)
		if len(lines) != 1 || !strings.Contains(lines[0], "refused") {
			t.Errorf("want one line saying the connection was refused, got:\n%s", strings.Join(lines, "\n"))
		}
	})
	if strings.Contains(e.logs.String(), sim.token) {
		t.Errorf("the token appears in the exporter's log")
	}
}

// A token file rewritten while the exporter runs is used on the next
// scrape; nothing the exporter logs on the way contains either token.
func TestRotatedTokenFile(t *testing.T) {
	sim := newSimulated(t, 100)
	e := startExporter(t, nil, sim.args()...)
	if v := value(t, e.scrape(t, 10*time.Second), "safeconsole_up"); v != 1 {
		t.Fatalf("first scrape: up %v", v)
	}
	newToken := safeconsoletest.MakeToken(time.Now().Add(90*24*time.Hour), map[string]any{"admin_name": "owner@example.com"})
	sim.srv.SetToken(newToken) // the old token is now revoked
	s := e.scrape(t, 10*time.Second)
	if value(t, s, "safeconsole_up") != 0 {
		t.Fatalf("scrape with a revoked token: up is not 0")
	}
	if err := os.WriteFile(sim.tokenFile, []byte(newToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = e.scrape(t, 10*time.Second)
	if value(t, s, "safeconsole_up") != 1 {
		t.Fatalf("scrape after rotating the token file: up is not 1")
	}
	exp, _ := jwtExp(newToken)
	if got := value(t, s, "safeconsole_api_token_expiry_timestamp_seconds"); got != float64(exp) {
		t.Errorf("token expiry = %v, want the new token's %d", got, exp)
	}
	e.waitForLines(t, 4)
	logs := e.logs.String()
	if !strings.Contains(logs, "invalid or expired") {
		t.Errorf("the revoked token's failure was not logged")
	}
	for _, tok := range []string{sim.token, newToken} {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[strings.LastIndex(tok, ".")+1:]) {
			t.Errorf("a token (or its signature) appears in the log")
		}
	}
}

func jwtExp(tok string) (int64, bool) {
	exp, ok := safeconsole.JWTExpiry(tok)
	return exp.Unix(), ok
}

func TestTokenComesFromEnvironmentNotFlags(t *testing.T) {
	sim := newSimulated(t, 40)
	e := startExporter(t, []string{"SAFECONSOLE_TOKEN=" + sim.token},
		"--safeconsole.url="+sim.srv.URL, "--safeconsole.allow-insecure-http")
	if v := value(t, e.scrape(t, 10*time.Second), "safeconsole_up"); v != 1 {
		t.Fatalf("token from the environment: up %v", v)
	}
	out, err := exec.Command(exporterBin, "--help").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`--safeconsole\.token[ =]`).Match(out) {
		t.Errorf("a flag takes the token's value:\n%s", out)
	}
}

func TestStartupRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		says string
	}{
		"plain http":    {[]string{"--safeconsole.url=http://safeconsole.example.com", "--safeconsole.token-file=/dev/null"}, "--safeconsole.allow-insecure-http"},
		"no token":      {[]string{"--safeconsole.url=https://safeconsole.example.com"}, "SAFECONSOLE_TOKEN"},
		"no url":        {[]string{"--safeconsole.token-file=/dev/null"}, "--safeconsole.url"},
		"bad minimum":   {[]string{"--demo", "--collector.firmware.minimum-version=6.x"}, "dotted numeric"},
		"demo with url": {[]string{"--demo", "--safeconsole.url=https://x.example.com"}, "--demo serves its own"},
	} {
		out, err := exec.Command(exporterBin, append(tc.args, "--web.listen-address=127.0.0.1:0")...).CombinedOutput()
		if err == nil {
			t.Errorf("%s: the exporter started", name)
			continue
		}
		if !strings.Contains(string(out), tc.says) {
			t.Errorf("%s: output does not say %q:\n%s", name, tc.says, out)
		}
	}
}
