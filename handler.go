package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/internal/metricshttp"
)

// scrapeCollector collects one scrape under its deadline.
type scrapeCollector interface {
	Scrape(ctx context.Context) *collector.Scrape
}

// metricsHandler serves the exporter's own metrics together with a fresh
// registry per request that collects SafeConsole under the scrape's
// deadline, as blackbox_exporter's /probe does.
type metricsHandler struct {
	own             prometheus.Gatherer
	collector       scrapeCollector // nil: the exporter's own metrics only
	fallbackTimeout time.Duration
	timeoutOffset   time.Duration
	inFlight        chan struct{} // nil: unbounded
	logger          log.Logger
}

func newMetricsHandler(own prometheus.Gatherer, c scrapeCollector, fallback, offset time.Duration, maxRequests int, logger log.Logger) *metricsHandler {
	h := &metricsHandler{own: own, collector: c, fallbackTimeout: fallback, timeoutOffset: offset, logger: logger}
	if maxRequests > 0 {
		h.inFlight = make(chan struct{}, maxRequests)
	}
	return h
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	release, ok := acquire(h.inFlight)
	if !ok {
		http.Error(w, "too many concurrent scrapes (--web.max-requests)", http.StatusServiceUnavailable)
		return
	}
	defer release()
	if h.collector == nil {
		// Only a module file is configured: servers are read through
		// /probe, and /metrics is the exporter's own.
		promhttp.HandlerFor(h.own, promhttp.HandlerOpts{
			ErrorLog:      promhttpLogger{h.logger},
			ErrorHandling: promhttp.ContinueOnError,
		}).ServeHTTP(w, r)
		return
	}
	timeout := scrapeTimeout(r, h.fallbackTimeout, h.timeoutOffset)
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// The scrape's metrics are gathered first so that the exporter's own
	// request counters already include this scrape's requests.
	metricshttp.Serve(w, r, h.collector.Scrape(ctx), h.own, promhttpLogger{h.logger})
}

// acquire takes a slot of the shared --web.max-requests limit; ok is
// false when all are taken. A nil limit always admits.
func acquire(inFlight chan struct{}) (release func(), ok bool) {
	if inFlight == nil {
		return func() {}, true
	}
	select {
	case inFlight <- struct{}{}:
		return func() { <-inFlight }, true
	default:
		return nil, false
	}
}

// scrapeTimeout is the Prometheus scrape timeout header minus offset (so
// the answer leaves before Prometheus gives up), or fallback without the
// header.
func scrapeTimeout(r *http.Request, fallback, offset time.Duration) time.Duration {
	v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return fallback
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs <= 0 || secs > 24*3600 {
		return fallback
	}
	t := time.Duration(secs*float64(time.Second)) - offset
	if t < 100*time.Millisecond {
		// Too short to do anything useful; still bounded by Prometheus'.
		t = time.Duration(secs * float64(time.Second) / 2)
	}
	return t
}

type promhttpLogger struct{ logger log.Logger }

func (l promhttpLogger) Println(v ...any) {
	level.Error(l.logger).Log("msg", "serving metrics", "err", v)
}
