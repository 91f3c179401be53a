package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	scconfig "github.com/safeconsole-exporter/safeconsole_exporter/config"
)

const reloadPath = "/-/reload"

// loadedConfig is one successfully loaded module file together with the
// collectors built for it. A reload replaces both at once, so a probe
// never combines a new module with a collector built from the old one.
type loadedConfig struct {
	cfg        *scconfig.Config
	collectors *collectorCache
}

// configReloader owns the module file in force. A file that fails to load
// is reported and changes nothing.
type configReloader struct {
	path      string
	cacheSize int
	logger    log.Logger

	mu   sync.Mutex // serialises reloads
	cur  atomic.Pointer[loadedConfig]
	ok   prometheus.Gauge
	okAt prometheus.Gauge
}

func newConfigReloader(path string, cacheSize int, logger log.Logger) *configReloader {
	return &configReloader{
		path:      path,
		cacheSize: cacheSize,
		logger:    logger,
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "safeconsole_exporter_config_last_reload_successful",
			Help: "Whether the last load of the module file (--config.file) succeeded (1) or was refused (0).",
		}),
		okAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "safeconsole_exporter_config_last_reload_success_timestamp_seconds",
			Help: "When the module file was last loaded successfully, in Unix seconds.",
		}),
	}
}

func (r *configReloader) metrics() []prometheus.Collector {
	return []prometheus.Collector{r.ok, r.okAt}
}

// current returns the configuration in force; nil before the first
// successful load.
func (r *configReloader) current() *loadedConfig { return r.cur.Load() }

// Reload loads the module file and, only if all of it is valid, puts it in
// force with an empty collector cache.
func (r *configReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := scconfig.Load(r.path)
	if err != nil {
		r.ok.Set(0)
		if r.cur.Load() != nil {
			level.Error(r.logger).Log("msg", "module file refused, the previous configuration stays in force", "err", err)
		}
		return err
	}
	if old := r.cur.Swap(&loadedConfig{cfg: cfg, collectors: newCollectorCache(r.cacheSize)}); old != nil {
		old.collectors.closeIdle()
	}
	r.ok.Set(1)
	r.okAt.SetToCurrentTime()
	level.Info(r.logger).Log("msg", "module file loaded", "file", r.path, "modules", strings.Join(cfg.ModuleNames(), ","))
	return nil
}

// ServeHTTP is POST /-/reload, as in Prometheus and blackbox_exporter.
func (r *configReloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST to reload the module file", http.StatusMethodNotAllowed)
		return
	}
	if err := r.Reload(); err != nil {
		http.Error(w, fmt.Sprintf("module file refused, the previous configuration stays in force: %v", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "module file reloaded")
}

// watchReloadSignal reloads r on every SIGHUP until ctx ends or stop is
// called.
func watchReloadSignal(ctx context.Context, r *configReloader) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.watch(ctx, hup)
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// watch reloads on every signal from hup until ctx ends.
func (r *configReloader) watch(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			level.Info(r.logger).Log("msg", "reloading the module file", "reason", "SIGHUP")
			_ = r.Reload() // Reload logs a refusal itself
		}
	}
}
