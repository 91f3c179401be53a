package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/internal/metricshttp"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

var (
	soakDuration = flag.Duration("soak.duration", 0, "how long to scrape; 0 is the short soak of go test ./...")
	soakScrapers = flag.Int("soak.scrapers", 8, "concurrent scrapers, like several Prometheus replicas")
	soakDevices  = flag.Int("soak.devices", 0, "drives in the simulated fleet; 0 is 2000, or 300 for the short soak")
	soakSeed     = flag.Uint64("soak.seed", 0, "random seed of the faults and scrapes; 0 picks one (logged)")
	soakReport   = flag.String("soak.report", "", "also write the summary as JSON to this file")
)

// The short soak of go test ./... runs under the race detector, which makes
// a scrape some twenty times dearer: it uses a smaller fleet.
const (
	shortSoak        = 3 * time.Second
	shortSoakDevices = 300
	soakDevicesDef   = 2000
)

// exporter is the part of the exporter under soak: the API client, the
// collector and an HTTP handler that serves them as handler.go does (a
// registry per scrape, the scrape's deadline from Prometheus' header, a
// bound on concurrent scrapes).
type exporter struct {
	client  *safeconsole.Client
	coll    *collector.Collector
	srv     *httptest.Server
	logs    *logCounter
	limit   chan struct{}
	refused atomic.Int64 // scrapes refused for the concurrency bound
}

const maxScrapes = 40 // the exporter's --web.max-requests default

func newExporter(t *testing.T, url, tokenFile string) *exporter {
	t.Helper()
	e := &exporter{logs: newLogCounter(), limit: make(chan struct{}, maxScrapes)}
	requests := collector.NewAPIRequestsCounter()
	client, err := safeconsole.NewClient(safeconsole.Config{
		URL: url, TokenFile: tokenFile, AllowInsecureHTTP: true,
		PageSize: 100, Concurrency: 4, MaxResponseBytes: 1 << 20,
		Logger: e.logs, OnRequest: collector.RequestObserver(requests, "sim"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.client = client
	e.coll, err = collector.New(client, collector.Options{Logger: e.logs, Timeout: 10 * time.Second, Devices: true})
	if err != nil {
		t.Fatal(err)
	}
	own := prometheus.NewRegistry()
	own.MustRegister(requests)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case e.limit <- struct{}{}:
			defer func() { <-e.limit }()
		default:
			e.refused.Add(1)
			http.Error(w, "too many concurrent scrapes", http.StatusServiceUnavailable)
			return
		}
		timeout := 10 * time.Second
		if secs, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil {
			timeout = time.Duration(secs*float64(time.Second)) - 100*time.Millisecond
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		metricshttp.Serve(w, r, e.coll.Scrape(ctx), own, soakErrLog{e.logs})
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// soakErrLog counts serving errors (scrapers the soak abandons on purpose
// cause some) with the other log lines, as main's handler logs them.
type soakErrLog struct{ l *logCounter }

func (s soakErrLog) Println(v ...any) {
	s.l.Log("level", "error", "msg", "serving metrics", "err", fmt.Sprint(v...))
}

// logCounter is a go-kit logger that counts lines by level and error kind.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newLogCounter() *logCounter { return &logCounter{counts: map[string]int{}} }

func (l *logCounter) Log(kv ...any) error {
	var lvl, kind string
	for i := 0; i+1 < len(kv); i += 2 {
		switch fmt.Sprint(kv[i]) {
		case "level":
			lvl = fmt.Sprint(kv[i+1])
		case "kind":
			kind = fmt.Sprint(kv[i+1])
		}
	}
	key := lvl
	if kind != "" {
		key += " kind=" + kind
	}
	l.mu.Lock()
	l.counts[key]++
	l.mu.Unlock()
	return nil
}

func (l *logCounter) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}

// faultKinds are the misbehaviours injected at random; each returns the
// fault and its name for the summary.
var faultKinds = []func(r *rand.Rand, pages int) (string, safeconsoletest.Fault){
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) { return "401", listFault(r, p, 401) },
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) { return "403", listFault(r, p, 403) },
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 429)
		f.RetryAfter = strconv.Itoa(r.IntN(2))
		return "429", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) { return "500", listFault(r, p, 500) },
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) { return "503", listFault(r, p, 503) },
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) { return "302", listFault(r, p, 302) },
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.Truncate = true
		return "truncated", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.SuccessFalse = true
		return "success-false", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.Latency = time.Duration(50+r.IntN(1500)) * time.Millisecond
		return "slow", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.Hang = true
		return "hang", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.TotalDelta = 1 + r.IntN(5)
		return "lying-total", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.RepeatPage = safeconsoletest.RepeatFirstPage
		return "repeated-page", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.Oversize = 2 << 20
		return "oversize", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.Gzip = true
		return "gzip", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := listFault(r, p, 0)
		f.Body = []byte(`{"total":1,"success":true,"response":[{"id":1,}]}`)
		return "malformed", f
	},
	func(r *rand.Rand, p int) (string, safeconsoletest.Fault) {
		f := safeconsoletest.Fault{Action: safeconsole.ActionOUs, Page: safeconsoletest.AnyPage, Times: r.IntN(3)}
		if r.IntN(2) == 0 {
			f.Status = 500
		} else {
			f.Hang = true
		}
		return "ous", f
	},
}

// listFault targets the list action, one page or any, a few times or until
// cleared.
func listFault(r *rand.Rand, pages, status int) safeconsoletest.Fault {
	page := safeconsoletest.AnyPage
	if r.IntN(2) == 0 {
		page = r.IntN(pages)
	}
	return safeconsoletest.Fault{Action: safeconsoletest.DefaultListAction, Page: page, Times: r.IntN(3), Status: status}
}

// usage is a moment's resource use of the process.
type usage struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
	FDs        int    `json:"fds"`
}

func measure() usage {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc, FDs: countFDs()}
}

func countFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// settled measures after idle connections are closed on every side and
// garbage is collected, giving the goroutines of closed connections and
// abandoned collections time to finish: until use is down to target, or
// (without one) the same three times running, for ten seconds at most.
func settled(e *exporter, scrapeClient *http.Client, target *usage) usage {
	var u, last usage
	same := 0
	for i := 0; i < 100; i++ {
		e.client.CloseIdleConnections()
		scrapeClient.CloseIdleConnections()
		runtime.GC()
		runtime.GC() // the second cycle frees what the first one's finalizers released
		u = measure()
		if target != nil && u.Goroutines <= target.Goroutines && u.FDs <= target.FDs {
			break
		}
		if u.Goroutines == last.Goroutines && u.FDs == last.FDs {
			if same++; target == nil && same == 3 {
				break
			}
		} else {
			same = 0
		}
		last = u
		time.Sleep(100 * time.Millisecond)
	}
	return u
}

// summary is what a soak reports.
type summary struct {
	Seed            uint64         `json:"seed"`
	Duration        string         `json:"duration"`
	Scrapers        int            `json:"scrapers"`
	Devices         int            `json:"devices"`
	Scrapes         int64          `json:"scrapes"`
	Up              int64          `json:"up"`
	Down            int64          `json:"down"`
	Aborted         int64          `json:"aborted_by_the_scraper"`
	Refused         int64          `json:"refused_over_max_requests"`
	APIRequests     int64          `json:"api_requests"`
	FaultsInjected  map[string]int `json:"faults_injected"`
	TokenRotations  int            `json:"token_rotations"`
	FleetChanges    int            `json:"fleet_changes"`
	LogLines        map[string]int `json:"log_lines"`
	Baseline        usage          `json:"baseline"`
	Peak            usage          `json:"peak"`
	End             usage          `json:"end"`
	WrongWhileUp    int64          `json:"wrong_counts_with_up_1"`
	RecoveredScrape bool           `json:"clean_scrapes_after_the_faults_up"`
}

func TestSoak(t *testing.T) {
	dur, devices := *soakDuration, *soakDevices
	if dur == 0 {
		dur = shortSoak
		if devices == 0 {
			devices = shortSoakDevices
		}
	}
	if devices == 0 {
		devices = soakDevicesDef
	}
	seed := *soakSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("soak: %v, %d scrapers, %d drives, seed %d (-soak.seed to repeat)", dur, *soakScrapers, devices, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: int64(seed % 1000), Devices: devices})
	drives := fleet.DeviceCount()
	pages := (len(fleet.Users) + 99) / 100
	token := safeconsoletest.MakeToken(time.Now().Add(24*time.Hour), nil)
	sim := safeconsoletest.NewServer(fleet, safeconsoletest.WithToken(token), safeconsoletest.WithLatency(time.Millisecond))
	defer sim.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newExporter(t, sim.URL, tokenFile)
	scrapeClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *soakScrapers}}

	sum := summary{Seed: seed, Duration: dur.String(), Scrapers: *soakScrapers, Devices: drives,
		FaultsInjected: map[string]int{}}

	// scrape GETs /metrics with a scrape timeout; it returns up (-1 when no
	// answer) and the drives the answer counts.
	scrape := func(ctx context.Context, timeout time.Duration) (up float64, counted float64) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/metrics", nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64))
		resp, err := scrapeClient.Do(req)
		if err != nil {
			return -1, 0
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			return -1, 0
		}
		up = -1
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "safeconsole_up "):
				up, _ = strconv.ParseFloat(strings.TrimPrefix(line, "safeconsole_up "), 64)
			case strings.HasPrefix(line, "safeconsole_devices{"):
				v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				counted += v
			}
		}
		if sc.Err() != nil {
			return -1, 0
		}
		return up, counted
	}
	// clean wants n scrapes in a row that read the whole fleet, within
	// 10n attempts: the first may still join a collection that a fault
	// held up.
	clean := func(n int) bool {
		for row, tries := 0, 0; tries < 10*n; tries++ {
			if up, counted := scrape(context.Background(), 10*time.Second); up == 1 && int(counted) == drives {
				if row++; row == n {
					return true
				}
			} else {
				row = 0
			}
		}
		return false
	}

	// Warm up (pools, caches, keep-alive connections), then the baseline.
	if !clean(20) {
		t.Fatal("clean scrapes before the soak did not all read the whole fleet")
	}
	sum.Baseline = settled(e, scrapeClient, nil)
	t.Logf("baseline: %+v", sum.Baseline)

	ctx, stop := context.WithTimeout(context.Background(), dur)
	defer stop()
	var wg sync.WaitGroup
	var scrapes, ups, downs, aborted, wrong atomic.Int64

	// Faults: every 50 to 300 ms the previous ones are cleared and, half of
	// the time, one or two new ones drawn; now and then the fleet changes or
	// the token is rotated (file first, then server: scrapes in between see
	// a 401).
	var mu sync.Mutex // guards rng
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			mu.Lock()
			sim.ClearFaults()
			for n := max(rng.IntN(4)-1, 0); n > 0; n-- {
				name, f := faultKinds[rng.IntN(len(faultKinds))](rng, pages)
				sim.AddFault(f)
				sum.FaultsInjected[name]++
			}
			switch x := rng.IntN(100); {
			case x < 5:
				i := rng.IntN(len(fleet.Users))
				fleet.Mutate(func(f *safeconsoletest.Fleet) {
					for j := range f.Users[i].Devices {
						f.Users[i].Devices[j].Online = !f.Users[i].Devices[j].Online
					}
				})
				sum.FleetChanges++
			case x < 7:
				tok := safeconsoletest.MakeToken(time.Now().Add(time.Duration(24+rng.IntN(1000))*time.Hour), nil)
				if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err == nil {
					sim.SetToken(tok)
					sum.TokenRotations++
				}
			}
			wait := time.Duration(50+rng.IntN(250)) * time.Millisecond
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}()

	// Peak use, sampled.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			u := measure()
			mu.Lock()
			sum.Peak.Goroutines = max(sum.Peak.Goroutines, u.Goroutines)
			sum.Peak.HeapBytes = max(sum.Peak.HeapBytes, u.HeapBytes)
			sum.Peak.FDs = max(sum.Peak.FDs, u.FDs)
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	timeouts := []time.Duration{300 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}
	for i := 0; i < *soakScrapers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				timeout := timeouts[rng.IntN(len(timeouts))]
				// One scrape in ten is given up early by its scraper, as
				// Prometheus does at its own timeout.
				var abortAfter time.Duration
				if rng.IntN(10) == 0 {
					abortAfter = time.Duration(1+rng.IntN(300)) * time.Millisecond
				}
				mu.Unlock()
				sctx, cancel := context.WithCancel(context.Background())
				if abortAfter > 0 {
					time.AfterFunc(abortAfter, cancel)
				}
				up, counted := scrape(sctx, timeout)
				cancel()
				scrapes.Add(1)
				switch {
				case up == 1:
					ups.Add(1)
					// A scrape that reports up may differ from the
					// fleet only by a change made while it ran.
					if int(counted) != drives {
						wrong.Add(1)
					}
				case up == 0:
					downs.Add(1)
				default:
					aborted.Add(1)
				}
			}
		}()
	}
	wg.Wait()

	sim.ClearFaults()
	sum.RecoveredScrape = clean(20)
	sum.End = settled(e, scrapeClient, &sum.Baseline)
	sum.Scrapes, sum.Up, sum.Down, sum.Aborted, sum.WrongWhileUp = scrapes.Load(), ups.Load(), downs.Load(), aborted.Load(), wrong.Load()
	sum.Refused = e.refused.Load()
	sum.APIRequests = sim.RequestsTotal()
	sum.LogLines = e.logs.snapshot()

	out, _ := json.MarshalIndent(sum, "", "  ")
	t.Logf("summary:\n%s", out)
	if *soakReport != "" {
		if err := os.WriteFile(*soakReport, append(out, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}

	if !sum.RecoveredScrape {
		t.Error("after the faults stopped, clean scrapes did not all read the whole fleet")
	}
	if sum.WrongWhileUp > 0 {
		t.Errorf("%d scrapes reported up 1 with a drive count other than the fleet's", sum.WrongWhileUp)
	}
	if sum.Up == 0 || sum.Down == 0 {
		t.Errorf("the soak saw %d good and %d failed scrapes; it should see both", sum.Up, sum.Down)
	}
	if sum.End.Goroutines > sum.Baseline.Goroutines {
		t.Errorf("goroutines: %d after the soak, %d before", sum.End.Goroutines, sum.Baseline.Goroutines)
		dumpGoroutines(t)
	}
	if sum.Baseline.FDs >= 0 && sum.End.FDs > sum.Baseline.FDs {
		t.Errorf("file descriptors: %d after the soak, %d before", sum.End.FDs, sum.Baseline.FDs)
	}
	// The heap holds the fleet, the simulator's caches and pooled buffers;
	// it may settle a little differently, but not grow with the scrapes.
	if limit := sum.Baseline.HeapBytes + max(sum.Baseline.HeapBytes/4, 4<<20); sum.End.HeapBytes > limit {
		t.Errorf("heap: %d bytes after the soak, %d before (limit %d)", sum.End.HeapBytes, sum.Baseline.HeapBytes, limit)
	}
}

// dumpGoroutines logs the goroutines by the function they wait in, to show
// what leaked.
func dumpGoroutines(t *testing.T) {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	counts := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.Split(g, "\n")
		if len(lines) > 2 {
			counts[strings.TrimSpace(lines[len(lines)-2])]++
		}
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	for _, k := range keys {
		t.Logf("%5d %s", counts[k], k)
	}
}
