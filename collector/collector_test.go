package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

var fleetFamilies = []string{
	"safeconsole_devices", "safeconsole_devices_online", "safeconsole_devices_disabled",
	"safeconsole_devices_firmware_outdated", "safeconsole_devices_last_seen_age_seconds",
	"safeconsole_devices_never_seen", "safeconsole_users",
}

var deviceFamilies = []string{
	"safeconsole_device_info", "safeconsole_device_online",
	"safeconsole_device_firmware_outdated", "safeconsole_device_last_seen_timestamp_seconds",
}

type setup struct {
	srv     *safeconsoletest.Server
	fleet   *safeconsoletest.Fleet
	client  *safeconsole.Client
	coll    *collector.Collector
	logs    *syncBuffer
	token   string
	counter *prometheus.CounterVec
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type options struct {
	devices     int
	pageSize    int
	concurrency int
	latency     time.Duration
	client      func(*safeconsole.Config)
	collector   func(*collector.Options)
}

func newSetup(t *testing.T, o options) *setup {
	t.Helper()
	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 42, Devices: o.devices})
	token := safeconsoletest.MakeToken(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), nil)
	srv := safeconsoletest.NewServer(fleet, safeconsoletest.WithToken(token), safeconsoletest.WithLatency(o.latency))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &setup{srv: srv, fleet: fleet, logs: &syncBuffer{}, token: token, counter: collector.NewAPIRequestsCounter()}
	cfg := safeconsole.Config{
		URL: srv.URL, TokenFile: tokenFile, AllowInsecureHTTP: true,
		PageSize: o.pageSize, Concurrency: o.concurrency,
		OnRequest: collector.RequestObserver(s.counter, "sim"),
	}
	if o.client != nil {
		o.client(&cfg)
	}
	client, err := safeconsole.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.client = client
	logger := level.NewFilter(log.NewLogfmtLogger(s.logs), level.AllowInfo())
	cOpts := collector.Options{
		Logger:  logger,
		Timeout: 30 * time.Second,
		Devices: true,
		Now:     func() time.Time { return fleet.Now },
	}
	if o.collector != nil {
		o.collector(&cOpts)
	}
	s.coll, err = collector.New(client, cOpts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expectedFleet renders the simulator's ground truth in the text format.
func expectedFleet(tally safeconsoletest.Tally) string {
	var b strings.Builder
	var lines []string
	family := func(name, typ string) {
		sort.Strings(lines)
		fmt.Fprintf(&b, "# HELP %s x\n# TYPE %s %s\n", name, name, typ)
		for _, l := range lines {
			b.WriteString(l)
		}
		lines = lines[:0]
	}
	g := func(k safeconsoletest.GroupKey) string {
		return fmt.Sprintf(`country=%q,ou=%q,version=%q`, k.Country, k.OU, k.Version)
	}
	for k, n := range tally.Devices {
		lines = append(lines, fmt.Sprintf("safeconsole_devices{country=%q,ou=%q,status=%q,version=%q} %d\n", k.Country, k.OU, k.Status, k.Version, n))
	}
	family("safeconsole_devices", "gauge")
	for name, m := range map[string]map[safeconsoletest.GroupKey]int{
		"safeconsole_devices_online":            tally.Online,
		"safeconsole_devices_disabled":          tally.Disabled,
		"safeconsole_devices_firmware_outdated": tally.Outdated,
		"safeconsole_devices_never_seen":        tally.NeverSeen,
	} {
		for k, n := range m {
			lines = append(lines, fmt.Sprintf("%s{%s} %d\n", name, g(k), n))
		}
		family(name, "gauge")
	}
	// Histogram lines stay in bucket order within a series: sort whole
	// series, not lines.
	for k, h := range tally.LastSeen {
		var series strings.Builder
		for i, ub := range h.Buckets {
			fmt.Fprintf(&series, "safeconsole_devices_last_seen_age_seconds_bucket{%s,le=%q} %d\n", g(k), fmt.Sprint(ub), h.Counts[i])
		}
		fmt.Fprintf(&series, "safeconsole_devices_last_seen_age_seconds_bucket{%s,le=\"+Inf\"} %d\n", g(k), h.Count)
		fmt.Fprintf(&series, "safeconsole_devices_last_seen_age_seconds_sum{%s} %v\n", g(k), h.Sum)
		fmt.Fprintf(&series, "safeconsole_devices_last_seen_age_seconds_count{%s} %d\n", g(k), h.Count)
		lines = append(lines, series.String())
	}
	family("safeconsole_devices_last_seen_age_seconds", "histogram")
	for ou, n := range tally.Users {
		lines = append(lines, fmt.Sprintf("safeconsole_users{ou=%q} %d\n", ou, n))
	}
	family("safeconsole_users", "gauge")
	return b.String()
}

func expectedDevices(truths []safeconsoletest.DeviceTruth) string {
	var info, online, outdated, seen strings.Builder
	b01 := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	for _, d := range truths {
		fmt.Fprintf(&info, "safeconsole_device_info{country=%q,ou=%q,serial=%q,status=%q,version=%q} 1\n", d.Country, d.OU, d.Serial, d.Status, d.Version)
		fmt.Fprintf(&online, "safeconsole_device_online{serial=%q} %d\n", d.Serial, b01(d.Online))
		fmt.Fprintf(&outdated, "safeconsole_device_firmware_outdated{serial=%q} %d\n", d.Serial, b01(d.Outdated))
		if !d.NeverUsed {
			fmt.Fprintf(&seen, "safeconsole_device_last_seen_timestamp_seconds{serial=%q} %d\n", d.Serial, d.LastUsed.Unix())
		}
	}
	return "# HELP safeconsole_device_info x\n# TYPE safeconsole_device_info gauge\n" + info.String() +
		"# HELP safeconsole_device_online x\n# TYPE safeconsole_device_online gauge\n" + online.String() +
		"# HELP safeconsole_device_firmware_outdated x\n# TYPE safeconsole_device_firmware_outdated gauge\n" + outdated.String() +
		"# HELP safeconsole_device_last_seen_timestamp_seconds x\n# TYPE safeconsole_device_last_seen_timestamp_seconds gauge\n" + seen.String()
}

// gathered is the outcome of one collection, HELP texts blanked so that
// comparisons are about series and values.
func gathered(t *testing.T, c prometheus.Collector) prometheus.Gatherer {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	got, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range got {
		h := "x"
		mf.Help = &h
	}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return got, nil })
}

// compare collects once and checks the named families against want.
func compare(t *testing.T, c prometheus.Collector, want string, names ...string) {
	t.Helper()
	compareGathered(t, gathered(t, c), want, names...)
}

func compareGathered(t *testing.T, g prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(g, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestGroundTruthTenThousandDrives(t *testing.T) {
	s := newSetup(t, options{devices: 10_000, pageSize: 100, concurrency: 4})
	if n := s.fleet.DeviceCount(); n != 10_000 {
		t.Fatalf("simulated fleet has %d drives", n)
	}
	tally := s.fleet.Tally(safeconsoletest.TallyOptions{})
	compare(t, s.coll, expectedFleet(tally), fleetFamilies...)
	compare(t, s.coll, expectedDevices(s.fleet.DeviceTruths(safeconsoletest.TallyOptions{})), deviceFamilies...)

	pages := (len(s.fleet.Users) + 99) / 100
	compare(t, s.coll, fmt.Sprintf(`# HELP safeconsole_up x
# TYPE safeconsole_up gauge
safeconsole_up 1
# HELP safeconsole_scrape_requests x
# TYPE safeconsole_scrape_requests gauge
safeconsole_scrape_requests %d
# HELP safeconsole_scrape_users_reported x
# TYPE safeconsole_scrape_users_reported gauge
safeconsole_scrape_users_reported %d
# HELP safeconsole_scrape_duplicate_entries x
# TYPE safeconsole_scrape_duplicate_entries gauge
safeconsole_scrape_duplicate_entries 0
# HELP safeconsole_api_token_expiry_timestamp_seconds x
# TYPE safeconsole_api_token_expiry_timestamp_seconds gauge
safeconsole_api_token_expiry_timestamp_seconds %d
`, pages+1, len(s.fleet.Users), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC).Unix()), "safeconsole_up", "safeconsole_scrape_requests", "safeconsole_scrape_users_reported",
		"safeconsole_scrape_duplicate_entries", "safeconsole_api_token_expiry_timestamp_seconds")
	if logs := s.logs.String(); logs != "" {
		t.Errorf("a healthy scrape logged at info or above:\n%s", logs)
	}
}

func TestFirmwareMinimumVersion(t *testing.T) {
	s := newSetup(t, options{devices: 2000, pageSize: 100, concurrency: 2,
		collector: func(o *collector.Options) { o.FirmwareMinimum = "6.10" }})
	opts := safeconsoletest.TallyOptions{MinimumVersion: "6.10"}
	compare(t, s.coll, expectedFleet(s.fleet.Tally(opts)), fleetFamilies...)
	compare(t, s.coll, expectedDevices(s.fleet.DeviceTruths(opts)), deviceFamilies...)
}

func TestCustomBucketsAndNoDeviceSeries(t *testing.T) {
	buckets := []float64{600, 86400 * 14}
	s := newSetup(t, options{devices: 500, pageSize: 50, concurrency: 2,
		collector: func(o *collector.Options) { o.LastSeenBuckets = buckets; o.Devices = false }})
	compare(t, s.coll, expectedFleet(s.fleet.Tally(safeconsoletest.TallyOptions{Buckets: buckets})), fleetFamilies...)
	if n := testutil.CollectAndCount(s.coll, deviceFamilies...); n != 0 {
		t.Errorf("--no-collector.devices still emitted %d per-drive series", n)
	}
}

func TestOwnerEmailOnlyWhenAskedFor(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		s := newSetup(t, options{devices: 50, pageSize: 20, concurrency: 1,
			client:    func(c *safeconsole.Config) { c.WantOwner = optIn },
			collector: func(o *collector.Options) { o.OwnerEmail = optIn }})
		reg := prometheus.NewRegistry()
		reg.MustRegister(s.coll)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "owner" {
						owners++
						if mf.GetName() != "safeconsole_device_info" {
							t.Errorf("owner label on %s", mf.GetName())
						}
					}
				}
			}
		}
		if want := map[bool]int{false: 0, true: s.fleet.DeviceCount()}[optIn]; owners != want {
			t.Errorf("opt-in %v: %d series carry an owner, want %d", optIn, owners, want)
		}
	}
}

func TestExpositionLints(t *testing.T) {
	s := newSetup(t, options{devices: 300, pageSize: 50, concurrency: 2})
	problems, err := testutil.CollectAndLint(s.coll)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	counter := s.counter
	problems, err = testutil.CollectAndLint(counter)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestAPIRequestCounter(t *testing.T) {
	s := newSetup(t, options{devices: 100, pageSize: 20, concurrency: 2})
	testutil.CollectAndCount(s.coll)
	pages := (len(s.fleet.Users) + 19) / 20
	want := fmt.Sprintf(`# HELP safeconsole_api_requests_total SafeConsole API requests, by target server, action and HTTP status code ("error" when no answer arrived).
# TYPE safeconsole_api_requests_total counter
safeconsole_api_requests_total{action="get_ous",code="200",target="sim"} 1
safeconsole_api_requests_total{action="get_users",code="200",target="sim"} %d
`, pages)
	if err := testutil.CollectAndCompare(s.counter, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// Every fault ends the scrape with safeconsole_up 0, no fleet series (a
// partial list would read as a shrinking fleet), exactly one error line
// that names what happened, and no token anywhere in the output.
func TestFaultsGiveUpZeroAndOneClearLogLine(t *testing.T) {
	list := safeconsole.DefaultListAction
	any := safeconsoletest.AnyPage
	for _, tc := range []struct {
		name  string
		fault safeconsoletest.Fault
		mod   func(*safeconsole.Config)
		says  string
	}{
		{"401", safeconsoletest.Fault{Action: list, Page: any, Status: 401}, nil, "kind=unauthorized"},
		{"403", safeconsoletest.Fault{Action: list, Page: any, Status: 403}, nil, "kind=forbidden"},
		{"404", safeconsoletest.Fault{}, func(c *safeconsole.Config) { c.ListAction = "nope" }, "--safeconsole.list-action"},
		{"429", safeconsoletest.Fault{Action: list, Page: any, Status: 429, RetryAfter: "0"}, nil, "kind=rate_limited"},
		{"500", safeconsoletest.Fault{Action: list, Page: 1, Status: 500}, nil, "kind=server_error"},
		{"502", safeconsoletest.Fault{Action: list, Page: 0, Status: 502}, nil, "HTTP 502"},
		{"malformed", safeconsoletest.Fault{Action: list, Page: 1, Body: []byte(`{"total":`)}, nil, "kind=protocol"},
		{"truncated", safeconsoletest.Fault{Action: list, Page: 1, Truncate: true}, nil, "kind=transport"},
		{"success false", safeconsoletest.Fault{Action: list, Page: 0, SuccessFalse: true}, nil, "kind=not_success"},
		{"inconsistent total", safeconsoletest.Fault{Action: list, Page: any, TotalDelta: 7}, nil, "kind=inconsistent"},
		{"oversized", safeconsoletest.Fault{Action: list, Page: 0, Oversize: 2 << 20}, func(c *safeconsole.Config) { c.MaxResponseBytes = 1 << 20 }, "kind=too_large"},
		{"slow", safeconsoletest.Fault{Action: list, Page: 1, Hang: true}, nil, "kind=timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, options{devices: 200, pageSize: 20, concurrency: 2, client: func(c *safeconsole.Config) {
				c.MaxRetries = 1
				if tc.mod != nil {
					tc.mod(c)
				}
			}})
			if tc.fault.Action != "" {
				s.srv.AddFault(tc.fault)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			scrape := s.coll.Scrape(ctx).Collector(true)
			if n := testutil.CollectAndCount(scrape, fleetFamilies...); n != 0 {
				t.Errorf("a failed scrape emitted %d fleet series", n)
			}
			ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel2()
			if v := testutil.ToFloat64(upOnly{s.coll.Scrape(ctx2).Collector(true)}); v != 0 {
				t.Errorf("safeconsole_up = %v, want 0", v)
			}
			lines := strings.Split(strings.TrimSpace(s.logs.String()), "\n")
			if len(lines) != 2 { // one per failed scrape above
				t.Fatalf("want one log line per failed scrape, got:\n%s", s.logs.String())
			}
			for _, l := range lines {
				if !strings.Contains(l, "level=error") || !strings.Contains(l, tc.says) {
					t.Errorf("log line does not say %q at error level: %s", tc.says, l)
				}
			}
			if strings.Contains(s.logs.String(), s.token) {
				t.Errorf("the token appears in the log")
			}
			// The exporter keeps serving: once the fault is gone, the
			// next scrape reads the whole fleet.
			if tc.mod == nil {
				s.srv.ClearFaults()
				if v := testutil.ToFloat64(upOnly{s.coll}); v != 1 {
					t.Errorf("after the fault cleared, safeconsole_up = %v, want 1", v)
				}
			}
		})
	}
}

// upOnly passes on safeconsole_up alone, for testutil.ToFloat64.
type upOnly struct{ c prometheus.Collector }

func (u upOnly) Describe(chan<- *prometheus.Desc) {}

func (u upOnly) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { u.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "safeconsole_up"`) {
			ch <- m
		}
	}
}

func TestOUFallbackIsLoggedOnce(t *testing.T) {
	s := newSetup(t, options{devices: 100, pageSize: 50, concurrency: 1})
	s.srv.AddFault(safeconsoletest.Fault{Action: safeconsole.ActionOUs, Page: safeconsoletest.AnyPage, Status: 403})
	for i := 0; i < 3; i++ {
		if v := testutil.ToFloat64(upOnly{s.coll}); v != 1 {
			t.Fatalf("safeconsole_up = %v with OU names refused, want 1", v)
		}
	}
	if n := strings.Count(s.logs.String(), "OU names unavailable"); n != 1 {
		t.Errorf("fallback logged %d times over three scrapes, want once:\n%s", n, s.logs.String())
	}
	// Users are labelled with their numeric OU ids.
	want := map[string]int{}
	for _, u := range s.fleet.Users {
		want[fmt.Sprint(u.OU)]++
	}
	var b strings.Builder
	b.WriteString("# HELP safeconsole_users x\n# TYPE safeconsole_users gauge\n")
	for ou, n := range want {
		fmt.Fprintf(&b, "safeconsole_users{ou=%q} %d\n", ou, n)
	}
	compare(t, s.coll, b.String(), "safeconsole_users")
}

// A user logging in while the list is paged by last login can slip onto a
// page already read; the collector reads the list again rather than report
// a fleet one short.
func TestListMovingDuringScrapeIsReadAgain(t *testing.T) {
	s := newSetup(t, options{devices: 200, pageSize: 20, concurrency: 1})
	var once sync.Once
	s.srv.OnPage(func(page int) {
		if page == 2 {
			once.Do(func() {
				s.fleet.AddUser(safeconsoletest.User{Email: "late@example.com", OU: 1, LastLogin: s.fleet.Now.Add(time.Minute),
					Devices: []safeconsoletest.Device{{Serial: "LATE00000001", Status: "IN_USE", Version: "6.10.1", Updated: true, Country: "Sweden"}}})
			})
		}
	})
	got := gathered(t, s.coll) // before the tally: the collection changes the fleet
	compareGathered(t, got, expectedFleet(s.fleet.Tally(safeconsoletest.TallyOptions{})), fleetFamilies...)
	if !strings.Contains(s.logs.String(), "reading the list again") {
		t.Errorf("the second pass was not logged:\n%s", s.logs.String())
	}
}

func TestTokenWithoutExpiryHasNoExpiryMetric(t *testing.T) {
	s := newSetup(t, options{devices: 10, pageSize: 20, concurrency: 1})
	s.srv.SetToken("not-a-jwt")
	if err := os.WriteFile(filepath.Join(filepath.Dir(s.client.Config().TokenFile), "token"), []byte("not-a-jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(s.coll, "safeconsole_api_token_expiry_timestamp_seconds"); n != 0 {
		t.Errorf("a non-JWT token produced an expiry metric")
	}
	if v := testutil.ToFloat64(upOnly{s.coll}); v != 1 {
		t.Errorf("safeconsole_up = %v with a non-JWT token, want 1", v)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]collector.Options{
		"version": {FirmwareMinimum: "6.x"},
		"buckets": {LastSeenBuckets: []float64{10, 5}},
		"zero":    {LastSeenBuckets: []float64{0}},
	} {
		if _, err := collector.New(nil, o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
}
