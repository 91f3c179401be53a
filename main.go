// Command safeconsole_exporter exposes a SafeConsole fleet of encrypted USB
// drives as Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	sloggokit "github.com/tjhop/slog-gokit"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	scconfig "github.com/safeconsole-exporter/safeconsole_exporter/config"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
)

const (
	exporterName = "safeconsole_exporter"
	defaultPort  = ":10150"
	tokenEnvVar  = "SAFECONSOLE_TOKEN"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// settings are the parsed command line.
type settings struct {
	url, tokenFile, caFile, listAction, paging string
	sortBy, sortOrder, keyword                 string
	insecureSkipVerify, allowHTTP              bool
	pageSize, concurrency, maxRetries          int
	maxResponseBytes                           int64
	timeout, timeoutOffset                     time.Duration
	firmwareMinimum                            string
	devices, ownerEmail                        bool
	lastSeenBuckets                            []float64
	demo                                       bool
	demoDevices                                int
	demoLatency, demoChurn                     time.Duration
	telemetryPath                              string
	maxRequests                                int
	logLevel, logFormat                        string
	token                                      string // from the environment, or the demo's
	configFile                                 string
	configCheck                                bool
}

func run(args []string) int {
	return runWith(args, os.Stdout, os.Stderr)
}

// parseFlags reads the command line into settings and the exporter
// toolkit's web flags.
func parseFlags(args []string, stderr io.Writer) (*settings, *web.FlagConfig, error) {
	app := kingpin.New(exporterName, "Prometheus exporter for a SafeConsole fleet of encrypted USB drives.")
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	var s settings
	app.Flag("safeconsole.url", "SafeConsole server base URL, e.g. https://safeconsole.example.com.").StringVar(&s.url)
	app.Flag("safeconsole.token-file", "File holding the API token; re-read on every scrape. Alternatively set "+tokenEnvVar+".").StringVar(&s.tokenFile)
	app.Flag("safeconsole.ca-file", "CA certificate file to verify the server's certificate.").StringVar(&s.caFile)
	app.Flag("safeconsole.insecure-skip-verify", "Do not verify the server's TLS certificate (testing only).").BoolVar(&s.insecureSkipVerify)
	app.Flag("safeconsole.allow-insecure-http", "Allow a plain http:// URL, sending the token unencrypted (trusted local paths only).").BoolVar(&s.allowHTTP)
	app.Flag("safeconsole.list-action", "Name of the API action that pages through users and their drives.").Default(safeconsole.DefaultListAction).StringVar(&s.listAction)
	app.Flag("safeconsole.paging", "How the server reads `start`: offset (a record offset) or page (a page index).").Default(string(safeconsole.PagingOffset)).EnumVar(&s.paging, string(safeconsole.PagingOffset), string(safeconsole.PagingNumber))
	app.Flag("safeconsole.sort-by", "sort_by of the list request; a key that does not change while paging is best.").Default("last_login").StringVar(&s.sortBy)
	app.Flag("safeconsole.sort-order", "sort_order of the list request (ASC or DESC).").Default("DESC").StringVar(&s.sortOrder)
	app.Flag("safeconsole.keyword", "keyword of the list request.").Default("search_all").StringVar(&s.keyword)
	app.Flag("safeconsole.page-size", "Entries requested per page (the list request's limit).").Default(fmt.Sprint(safeconsole.DefaultPageSize)).IntVar(&s.pageSize)
	app.Flag("safeconsole.concurrency", "Pages fetched at once after the first.").Default(fmt.Sprint(safeconsole.DefaultConcurrency)).IntVar(&s.concurrency)
	app.Flag("safeconsole.max-retries", "Retries of a request after 429, 5xx or a connection error, deadline permitting.").Default(fmt.Sprint(safeconsole.DefaultMaxRetries)).IntVar(&s.maxRetries)
	app.Flag("safeconsole.max-response-size", "Largest answer body accepted, in bytes.").Default(fmt.Sprint(safeconsole.DefaultMaxResponseBytes)).Int64Var(&s.maxResponseBytes)
	app.Flag("safeconsole.timeout", "Deadline of a scrape or probe that carries no X-Prometheus-Scrape-Timeout-Seconds header.").Default("10s").DurationVar(&s.timeout)
	app.Flag("safeconsole.timeout-offset", "Subtracted from Prometheus' scrape timeout so the answer arrives in time.").Default("500ms").DurationVar(&s.timeoutOffset)
	app.Flag("collector.firmware.minimum-version", "Drives below this dotted version (e.g. 6.10.1) count as outdated; empty: use SafeConsole's isUpdated.").StringVar(&s.firmwareMinimum)
	app.Flag("collector.devices", "Per-drive series (four per drive). Disable with --no-collector.devices for very large fleets.").Default("true").BoolVar(&s.devices)
	app.Flag("collector.devices.owner-email", "Add the owner's e-mail (personal data) to safeconsole_device_info.").BoolVar(&s.ownerEmail)
	app.Flag("collector.last-seen.buckets", "Upper bounds in seconds of the last-seen age histogram; repeatable.").Float64ListVar(&s.lastSeenBuckets)
	app.Flag("config.file", "Module file (YAML) for reading several SafeConsole servers through /probe?module=<name>&target=<base URL>. Reloaded on SIGHUP and POST /-/reload.").StringVar(&s.configFile)
	app.Flag("config.check", "Check --config.file and exit: 0 when it is valid, 1 with the reason when not.").BoolVar(&s.configCheck)
	app.Flag("demo", "Serve an in-process simulated SafeConsole fleet; no server or token needed.").BoolVar(&s.demo)
	app.Flag("demo.devices", "Drives in the simulated fleet.").Default("3000").IntVar(&s.demoDevices)
	app.Flag("demo.latency", "Simulated API latency per request.").Default("5ms").DurationVar(&s.demoLatency)
	app.Flag("demo.churn-interval", "How often the simulated fleet changes (a drive lost or disabled, others used); 0 keeps it still.").Default("1m").DurationVar(&s.demoChurn)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&s.telemetryPath)
	app.Flag("web.max-requests", "Maximum concurrent scrapes and probes; 0 means no limit.").Default("40").IntVar(&s.maxRequests)
	app.Flag("log.level", "Only log messages with the given severity or above.").Default("info").EnumVar(&s.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages.").Default("logfmt").EnumVar(&s.logFormat, "logfmt", "json")
	webFlags := kingpinflag.AddFlags(app, defaultPort)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		return nil, nil, err
	}
	return &s, webFlags, nil
}

func runWith(args []string, stdout, stderr io.Writer) int {
	s, webFlags, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	if s.configCheck {
		return checkConfig(s.configFile, stdout, stderr)
	}

	s.token = os.Getenv(tokenEnvVar)
	logger, baseLogger := newLoggerTo(stderr, s.logLevel, s.logFormat)
	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ex, err := newExporter(s, logger)
	if err != nil {
		level.Error(logger).Log("msg", "starting", "err", err)
		return 1
	}
	defer ex.close()
	if ex.reloader != nil {
		defer watchReloadSignal(ctx, ex.reloader)()
	}

	srv := &http.Server{Handler: ex.handler, ReadHeaderTimeout: 10 * time.Second}
	slogger := slogFor(baseLogger, s.logLevel)
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, webFlags, slogger) }()
	select {
	case err := <-serveErr:
		level.Error(logger).Log("msg", "serving HTTP", "err", err)
		return 1
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		level.Error(logger).Log("msg", "shutting down", "err", err)
		return 1
	}
	return 0
}

// checkConfig is --config.check: load the module file as a reload would,
// say what is wrong or what it defines, and exit.
func checkConfig(path string, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintf(stderr, "%s: --config.check needs --config.file\n", exporterName)
		return 1
	}
	cfg, err := scconfig.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return 1
	}
	names := cfg.ModuleNames()
	fmt.Fprintf(stdout, "%s: module file %s is valid: %d module(s): %s\n", exporterName, path, len(names), strings.Join(names, ", "))
	return 0
}

// exporter is everything the HTTP server serves.
type exporter struct {
	handler  http.Handler
	reloader *configReloader // nil without --config.file
	closers  []func()
}

func (e *exporter) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// newExporter builds the handlers from the settings: /metrics with the
// exporter's own metrics and, when a server is configured by flags (or
// --demo), that server's fleet; /probe, /-/reload and their reload
// metrics when a module file is given.
func newExporter(s *settings, logger log.Logger) (ex *exporter, err error) {
	ex = &exporter{}
	defer func() {
		if err != nil {
			ex.close()
		}
	}()
	own := prometheus.NewRegistry()
	apiRequests := collector.NewAPIRequestsCounter()
	own.MustRegister(
		versioncollector.NewCollector(exporterName),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		apiRequests,
	)

	if s.demo {
		closeDemo, err := startDemo(s, logger)
		if err != nil {
			return ex, fmt.Errorf("starting the demo fleet: %w", err)
		}
		ex.closers = append(ex.closers, closeDemo)
	}
	// With a module file, the flags' single server is optional: /metrics
	// then carries the exporter's own metrics only. Without one, a server
	// is required, as it always was.
	var single scrapeCollector
	if s.configFile == "" || s.url != "" || s.demo {
		client, err := newClient(s, apiRequests, logger)
		if err != nil {
			return ex, fmt.Errorf("configuring the SafeConsole client: %w", err)
		}
		coll, err := collector.New(client, collector.Options{
			Logger:          logger,
			Timeout:         s.timeout,
			FirmwareMinimum: s.firmwareMinimum,
			Devices:         s.devices,
			OwnerEmail:      s.ownerEmail,
			LastSeenBuckets: s.lastSeenBuckets,
		})
		if err != nil {
			return ex, fmt.Errorf("configuring the collector: %w", err)
		}
		single = coll
	} else if s.tokenFile != "" || s.token != "" {
		level.Warn(logger).Log("msg", "a token is set by --safeconsole.token-file or "+tokenEnvVar+" but no --safeconsole.url: /metrics reads no server; modules read theirs through /probe with their own token_file")
	}

	mux := http.NewServeMux()
	metrics := newMetricsHandler(own, single, s.timeout, s.timeoutOffset, s.maxRequests, logger)
	mux.Handle(s.telemetryPath, metrics)

	links := []web.LandingLinks{{Address: s.telemetryPath, Text: "Metrics", Description: "Exporter metrics"}}
	if single != nil {
		links[0].Description = "Fleet and exporter metrics (pages SafeConsole on every request)"
	}
	var form web.LandingForm
	if s.configFile != "" {
		ex.reloader = newConfigReloader(s.configFile, defaultCollectorCacheSize, logger)
		if err := ex.reloader.Reload(); err != nil {
			return ex, err
		}
		own.MustRegister(ex.reloader.metrics()...)
		probe := &probeHandler{
			configs:         ex.reloader.current,
			build:           newProbeCollectorBuilder(apiRequests, s.timeout, logger),
			fallbackTimeout: s.timeout,
			timeoutOffset:   s.timeoutOffset,
			inFlight:        metrics.inFlight, // one limit for scrapes and probes
			logger:          logger,
		}
		mux.Handle(probePath, probe)
		mux.Handle(reloadPath, ex.reloader)
		links = append(links, web.LandingLinks{Address: probePath, Text: "Probe",
			Description: "Read one SafeConsole server of the module file: " + probePath + "?module=<name>&target=<base URL> (reload the file with SIGHUP or POST " + reloadPath + ")"})
		form = web.LandingForm{Action: probePath, Inputs: []web.LandingFormInput{
			{Label: "Module", Type: "text", Name: "module", Placeholder: "module name"},
			{Label: "Target", Type: "text", Name: "target", Placeholder: "https://safeconsole.example.com"},
		}}
	}
	if s.telemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "SafeConsole Exporter",
			Description: "Prometheus exporter for a SafeConsole fleet of encrypted USB drives",
			Version:     version.Info(),
			Links:       links,
			Form:        form,
			Profiling:   "false", // no pprof handlers are served
		})
		if err != nil {
			return ex, fmt.Errorf("building the landing page: %w", err)
		}
		mux.Handle("/", landing)
	}
	ex.handler = mux
	return ex, nil
}

// newClient builds the API client from the flags. The token comes from a
// file or the environment, never from a flag value, which would show in
// process listings.
func newClient(s *settings, apiRequests *prometheus.CounterVec, logger log.Logger) (*safeconsole.Client, error) {
	cfg := safeconsole.Config{
		URL:               s.url,
		TokenFile:         s.tokenFile,
		AllowInsecureHTTP: s.allowHTTP,
		ListAction:        s.listAction,
		PageSize:          s.pageSize,
		Concurrency:       s.concurrency,
		SortBy:            s.sortBy,
		SortOrder:         s.sortOrder,
		Keyword:           s.keyword,
		Paging:            safeconsole.Paging(s.paging),
		MaxResponseBytes:  s.maxResponseBytes,
		MaxRetries:        s.maxRetries,
		WantOwner:         s.ownerEmail,
		UserAgent:         exporterName + "/" + version.Version,
		Logger:            logger,
		HTTPClientConfig: config.HTTPClientConfig{
			EnableHTTP2: true,
			TLSConfig:   config.TLSConfig{CAFile: s.caFile, InsecureSkipVerify: s.insecureSkipVerify},
			ProxyConfig: config.ProxyConfig{ProxyFromEnvironment: true},
		},
	}
	if s.maxRetries == 0 {
		cfg.MaxRetries = -1 // 0 on the command line means none
	}
	if cfg.TokenFile == "" {
		cfg.Token = config.Secret(s.token)
	}
	if u, err := url.Parse(s.url); err == nil {
		cfg.OnRequest = collector.RequestObserver(apiRequests, u.Host)
	}
	return safeconsole.NewClient(cfg)
}

// newLogger returns the project's logger and the same without timestamp and
// caller, for slog-gokit, which adds its own.
func newLogger(lvl, format string) (logger, base log.Logger) {
	return newLoggerTo(os.Stderr, lvl, format)
}

func newLoggerTo(w io.Writer, lvl, format string) (logger, base log.Logger) {
	sw := log.NewSyncWriter(w)
	if format == "json" {
		base = log.NewJSONLogger(sw)
	} else {
		base = log.NewLogfmtLogger(sw)
	}
	base = level.NewFilter(base, level.Allow(level.ParseDefault(lvl, level.InfoValue())))
	return log.With(base, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), base
}

// slogFor hands the project's go-kit logger to the exporter toolkit, which
// logs through slog, so there is one logging setup.
func slogFor(logger log.Logger, lvl string) *slog.Logger {
	var l slog.Level
	switch lvl {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(sloggokit.NewGoKitHandler(logger, l))
}
