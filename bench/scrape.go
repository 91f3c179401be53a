package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/config"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/internal/metricshttp"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// timedScanner wraps the real client and notes when, and at what CPU and
// allocation count, the list pass starts and ends, which splits a scrape
// into its fetch-and-aggregate part and its rendering part.
type timedScanner struct {
	c *safeconsole.Client

	mu               sync.Mutex
	start, end       time.Time
	cpuStart, cpuEnd time.Duration
	memStart, memEnd runtimeCounters
	// res is a copy: the pointer Scan returns points into the scan's own
	// state (its dedupe maps and, through the visit function, the
	// collection), which would stay reachable for as long as it is held.
	res    safeconsole.ScanResult
	err    error
	passes int
}

func (t *timedScanner) Scan(ctx context.Context, visit safeconsole.VisitFunc) (*safeconsole.ScanResult, error) {
	start, cpu, mem := time.Now(), processCPU(), readCounters()
	res, err := t.c.Scan(ctx, visit)
	end, cpuEnd, memEnd := time.Now(), processCPU(), readCounters()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.passes == 0 {
		t.start, t.cpuStart, t.memStart = start, cpu, mem
	}
	t.end, t.cpuEnd, t.memEnd = end, cpuEnd, memEnd
	if res != nil {
		t.res = *res
	}
	t.err = err
	t.passes++
	return res, err
}

func (t *timedScanner) TokenExpiry() (time.Time, bool, error) { return t.c.TokenExpiry() }

func (t *timedScanner) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.passes, t.res, t.err = 0, safeconsole.ScanResult{}, nil
}

// exporter is the exporter as main wires it: one client, a collector, and
// /metrics answered by internal/metricshttp, as handler.go does, with the
// exporter's own metrics beside the scrape's.
type exporter struct {
	scanner *timedScanner
	coll    *collector.Collector
	own     *prometheus.Registry
	timeout time.Duration
}

func newExporter(baseURL string, pageSize, concurrency int, devices bool, timeout time.Duration) (*exporter, error) {
	own := prometheus.NewRegistry()
	apiRequests := collector.NewAPIRequestsCounter()
	own.MustRegister(
		versioncollector.NewCollector("safeconsole_exporter"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		apiRequests,
	)
	client, err := safeconsole.NewClient(safeconsole.Config{
		URL:               baseURL,
		Token:             config.Secret(safeconsoletest.DefaultToken),
		AllowInsecureHTTP: true,
		PageSize:          pageSize,
		Concurrency:       concurrency,
		OnRequest:         collector.RequestObserver(apiRequests, "simulator"),
	})
	if err != nil {
		return nil, fmt.Errorf("exporter client: %w", err)
	}
	ts := &timedScanner{c: client}
	coll, err := collector.New(ts, collector.Options{
		Timeout: timeout,
		Devices: devices,
		// The simulated fleet's ages are relative to its fixed "now".
		Now: func() time.Time { return safeconsoletest.DefaultNow },
	})
	if err != nil {
		return nil, fmt.Errorf("exporter collector: %w", err)
	}
	return &exporter{scanner: ts, coll: coll, own: own, timeout: timeout}, nil
}

// countingWriter is a ResponseWriter that counts the exposition's bytes and
// keeps them only when asked to (for checking against the ground truth).
type countingWriter struct {
	h      http.Header
	status int
	n      int64
	keep   *bytes.Buffer
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(s int)   { w.status = s }
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.keep != nil {
		w.keep.Write(p)
	}
	return len(p), nil
}

// scrapeResult is one measured /metrics request.
type scrapeResult struct {
	wall, scanWall, renderWall time.Duration
	cpu                        time.Duration // the whole request
	scanCPU, renderCPU         time.Duration
	scanAllocs, renderAllocs   uint64
	scanAllocBytes             uint64
	gcCycles                   uint64
	bytes                      int64
	peakHeap, liveHeap         uint64
	requests                   int
	res                        safeconsole.ScanResult
}

// failLogger keeps the first error the handler reports.
type failLogger struct{ err *error }

func (l failLogger) Println(v ...any) {
	if *l.err == nil {
		*l.err = errors.New(fmt.Sprintln(v...))
	}
}

// scrape serves one /metrics request the way Prometheus sends it (text
// format; gzip when asked, as Prometheus does by default) and measures it.
// keep, when not nil, receives the exposition, decompressed.
func (e *exporter) scrape(keep *bytes.Buffer, compressed bool) (scrapeResult, error) {
	e.scanner.reset()
	w := &countingWriter{h: http.Header{}}
	var gzipped bytes.Buffer
	if compressed {
		if keep != nil {
			w.keep = &gzipped
		}
	} else {
		w.keep = keep
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if compressed {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	var serveErr error

	hs := startHeapSampler()
	mem0, cpu0, t0 := readCounters(), processCPU(), time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	metricshttp.Serve(w, req.WithContext(ctx), e.coll.Scrape(ctx), e.own, failLogger{&serveErr})
	cancel()
	t1, cpu1, mem1 := time.Now(), processCPU(), readCounters()
	peak, live := hs.Stop()

	s := e.scanner
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.passes == 0 {
		return scrapeResult{}, fmt.Errorf("the scrape did not read the list")
	}
	if s.err != nil {
		return scrapeResult{}, fmt.Errorf("scrape failed: %w", s.err)
	}
	if w.status != 0 && w.status != http.StatusOK {
		return scrapeResult{}, fmt.Errorf("/metrics answered HTTP %d", w.status)
	}
	if serveErr != nil {
		return scrapeResult{}, fmt.Errorf("serving /metrics: %w", serveErr)
	}
	if got := w.h.Get("Content-Encoding"); (got == "gzip") != compressed {
		return scrapeResult{}, fmt.Errorf("/metrics answered with Content-Encoding %q, gzip asked for: %v", got, compressed)
	}
	if compressed && keep != nil {
		zr, err := gzip.NewReader(&gzipped)
		if err != nil {
			return scrapeResult{}, fmt.Errorf("reading the compressed answer: %w", err)
		}
		if _, err := keep.ReadFrom(zr); err != nil {
			return scrapeResult{}, fmt.Errorf("reading the compressed answer: %w", err)
		}
	}
	return scrapeResult{
		wall:           t1.Sub(t0),
		cpu:            cpu1 - cpu0,
		scanWall:       s.end.Sub(s.start),
		renderWall:     t1.Sub(s.end),
		scanCPU:        s.cpuEnd - s.cpuStart,
		renderCPU:      cpu1 - s.cpuEnd,
		scanAllocs:     s.memEnd.sub(s.memStart).allocs,
		scanAllocBytes: s.memEnd.sub(s.memStart).allocBytes,
		renderAllocs:   mem1.sub(s.memEnd).allocs,
		gcCycles:       mem1.sub(mem0).gcCycles,
		bytes:          w.n,
		peakHeap:       peak,
		liveHeap:       live,
		requests:       s.res.Requests,
		res:            s.res,
	}, nil
}
