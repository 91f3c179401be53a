package main

import (
	"container/list"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	scconfig "github.com/safeconsole-exporter/safeconsole_exporter/config"
	"github.com/safeconsole-exporter/safeconsole_exporter/internal/metricshttp"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
)

const probePath = "/probe"

// defaultCollectorCacheSize bounds the collectors kept between probes. An
// explicit target list needs one per (module, target); a pattern could
// admit many more, and whoever can reach /probe must not be able to grow
// memory without bound.
const defaultCollectorCacheSize = 1000

// probeHandler serves /probe?module=<name>&target=<base URL>: one server of
// the module file, collected into a fresh registry under the scrape's
// deadline, as blackbox_exporter does.
type probeHandler struct {
	configs         func() *loadedConfig
	build           func(m *scconfig.Module, target string) (*collector.Collector, error)
	fallbackTimeout time.Duration
	timeoutOffset   time.Duration
	inFlight        chan struct{} // shared with /metrics; nil: unbounded
	logger          log.Logger
}

func (h *probeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	m, target, lc, msg := h.resolve(r)
	if msg != "" {
		level.Debug(h.logger).Log("msg", "probe refused", "reason", msg)
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	release, ok := acquire(h.inFlight)
	if !ok {
		http.Error(w, "too many concurrent scrapes (--web.max-requests)", http.StatusServiceUnavailable)
		return
	}
	defer release()

	coll, err := lc.collectors.get(cacheKey{module: m.Name(), target: target}, func() (*collector.Collector, error) {
		return h.build(m, target)
	})
	if err != nil {
		level.Error(h.logger).Log("msg", "configuring the probe", "module", m.Name(), "target", target, "err", err)
		http.Error(w, fmt.Sprintf("configuring module %q for %s: %v", m.Name(), target, err), http.StatusInternalServerError)
		return
	}

	timeout := scrapeTimeout(r, h.fallbackTimeout, h.timeoutOffset)
	if mt := m.ProbeTimeout(); mt > 0 {
		if r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds") == "" || timeout > mt {
			timeout = mt
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	metricshttp.Serve(w, r, coll.Scrape(ctx), nil, promhttpLogger{h.logger})
}

// resolve checks the request and returns the module and the canonical
// target, or a message for a 400. Nothing is sent anywhere before the
// target has passed the module's allow-list.
func (h *probeHandler) resolve(r *http.Request) (*scconfig.Module, string, *loadedConfig, string) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, "", nil, "malformed query string"
	}
	for k, v := range q {
		if k != "module" && k != "target" {
			// Above all, no credentials or client settings from the URL:
			// they come from the module file only.
			return nil, "", nil, fmt.Sprintf("unknown parameter %q: /probe takes only module and target; every other setting, the token included, comes from the module file", truncateParam(k))
		}
		if len(v) != 1 {
			return nil, "", nil, fmt.Sprintf("parameter %q given %d times", k, len(v))
		}
	}
	name, target := q.Get("module"), q.Get("target")
	if name == "" {
		return nil, "", nil, "missing module parameter: use " + probePath + "?module=<name>&target=<base URL>"
	}
	lc := h.configs()
	var m *scconfig.Module
	if lc != nil {
		m, _ = lc.cfg.Module(name)
	}
	if m == nil {
		return nil, "", nil, fmt.Sprintf("unknown module %q: it is not defined in the module file (--config.file)", truncateParam(name))
	}
	if target == "" {
		return nil, "", nil, "missing target parameter: use " + probePath + "?module=<name>&target=<base URL>"
	}
	canonical, err := m.Allow(target)
	if err != nil {
		return nil, "", nil, err.Error()
	}
	return m, canonical, lc, ""
}

func truncateParam(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// newProbeCollectorBuilder returns how a probe's collector is built: the
// module's client settings for the canonical target, with the exporter's
// request counter labelled by the target's host.
func newProbeCollectorBuilder(apiRequests *prometheus.CounterVec, fallbackTimeout time.Duration, logger log.Logger) func(*scconfig.Module, string) (*collector.Collector, error) {
	return func(m *scconfig.Module, target string) (*collector.Collector, error) {
		u, err := url.Parse(target)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		l := log.With(logger, "module", m.Name(), "target", target)
		cc := m.ClientConfig(target)
		cc.UserAgent = exporterName + "/" + version.Version
		cc.Logger = l
		cc.OnRequest = collector.RequestObserver(apiRequests, u.Host)
		client, err := safeconsole.NewClient(cc)
		if err != nil {
			return nil, err
		}
		opts := m.CollectorOptions()
		opts.Logger = l
		opts.Timeout = fallbackTimeout
		if mt := m.ProbeTimeout(); mt > 0 {
			opts.Timeout = mt
		}
		return collector.New(client, opts)
	}
}

type cacheKey struct{ module, target string }

// collectorCache keeps one collector per (module, target), so that
// overlapping probes of a server meet in the collector's shared
// collection instead of each paging the whole list. It is bounded,
// least recently used first out, and replaced on every reload.
type collectorCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recent first
	items map[cacheKey]*list.Element
}

type cacheEntry struct {
	key  cacheKey
	coll *collector.Collector
}

func newCollectorCache(max int) *collectorCache {
	return &collectorCache{max: max, order: list.New(), items: map[cacheKey]*list.Element{}}
}

// get returns the collector for key, building it on first use. Building
// happens under the lock (it only assembles a client; nothing is sent), so
// two first probes of a target cannot end up with two collectors.
func (c *collectorCache) get(key cacheKey, build func() (*collector.Collector, error)) (*collector.Collector, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cacheEntry).coll, nil
	}
	coll, err := build()
	if err != nil {
		return nil, err
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, coll: coll})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		e := oldest.Value.(*cacheEntry)
		delete(c.items, e.key)
		// A probe still running on it finishes; only idle connections go.
		e.coll.CloseIdleConnections()
	}
	return coll, nil
}

// closeIdle releases every cached collector's idle connections, for a cache
// that a reload has replaced.
func (c *collectorCache) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.order.Front(); e != nil; e = e.Next() {
		e.Value.(*cacheEntry).coll.CloseIdleConnections()
	}
}

func (c *collectorCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
