// Package collector turns SafeConsole fleet data into Prometheus metrics. It
// pages the list afresh on every collection (no background polling, no
// stale data) and builds const metrics; it knows nothing of HTTP.
package collector

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
)

const namespace = "safeconsole"

// DefaultLastSeenBuckets are the last-seen age histogram's upper bounds:
// 1h, 1d, 7d, 30d, 90d, 365d.
var DefaultLastSeenBuckets = []float64{3600, 86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400}

// Scanner is what the collector needs from the API client.
type Scanner interface {
	Scan(ctx context.Context, visit safeconsole.VisitFunc) (*safeconsole.ScanResult, error)
	TokenExpiry() (exp time.Time, ok bool, err error)
}

// Options configures a Collector.
type Options struct {
	Logger log.Logger
	// Timeout bounds a collection that has no deadline of its own (Collect
	// called directly rather than through Scrape).
	Timeout time.Duration
	// FirmwareMinimum, when set, decides "outdated" by version comparison
	// instead of SafeConsole's isUpdated flag.
	FirmwareMinimum string
	// Devices enables the per-drive series; OwnerEmail adds the owner's
	// e-mail to safeconsole_device_info (personal data, opt-in).
	Devices    bool
	OwnerEmail bool
	// LastSeenBuckets overrides DefaultLastSeenBuckets.
	LastSeenBuckets []float64
	// Now is the clock; tests set it.
	Now func() time.Time
}

// Collector collects one SafeConsole server. Overlapping collections share
// one pass over the API.
type Collector struct {
	scanner Scanner
	opts    Options
	minimum firmwareVersion
	logger  log.Logger
	group   singleflight.Group

	// ouFallbackLogged makes the get_ous fallback log once, not per scrape.
	ouFallbackLogged atomic.Bool
}

// New returns a Collector reading through scanner.
func New(scanner Scanner, opts Options) (*Collector, error) {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LastSeenBuckets == nil {
		opts.LastSeenBuckets = DefaultLastSeenBuckets
	}
	for i, b := range opts.LastSeenBuckets {
		if b <= 0 || (i > 0 && b <= opts.LastSeenBuckets[i-1]) {
			return nil, fmt.Errorf("last-seen buckets must be positive and increasing, got %v", opts.LastSeenBuckets)
		}
	}
	c := &Collector{scanner: scanner, opts: opts, logger: opts.Logger}
	if opts.FirmwareMinimum != "" {
		v, ok := parseVersion(opts.FirmwareMinimum)
		if !ok {
			return nil, ParseMinimumVersion(opts.FirmwareMinimum)
		}
		c.minimum = v
	}
	return c, nil
}

// Describe sends nothing: the series depend on the fleet and the options,
// so this is an unchecked collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect runs a collection bounded by Options.Timeout.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	c.snapshot(ctx).emit(ch, &c.opts, true)
}

// snapshot returns the result of a collection, joining one already under
// way. The shared pass runs under the deadline of the scrape that started
// it and is not cancelled when that scrape's client goes away; each waiter
// still returns at its own deadline.
func (c *Collector) snapshot(ctx context.Context) *snapshot {
	timeout := c.opts.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	// The pass ends a little before the scrape's deadline, so that it can
	// log and hand back a real outcome, which a waiter giving up at the
	// same instant would lose.
	runTimeout := timeout - min(timeout/20, 250*time.Millisecond)
	ch := c.group.DoChan("scan", func() (any, error) {
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runTimeout)
		defer cancel()
		return c.run(runCtx, timeout), nil
	})
	select {
	case r := <-ch:
		return r.Val.(*snapshot)
	case <-ctx.Done():
		return &snapshot{
			reported: -1,
			err:      fmt.Errorf("waiting for the shared collection: %w", ctx.Err()),
			timeout:  timeout.Seconds(),
			duration: timeout.Seconds(),
		}
	}
}

// run performs one collection.
func (c *Collector) run(ctx context.Context, timeout time.Duration) *snapshot {
	start := time.Now()
	now := c.opts.Now()
	agg := newAggregator(c, now)
	snap := &snapshot{timeout: timeout.Seconds(), reported: -1}

	if exp, ok, err := c.scanner.TokenExpiry(); err == nil && ok {
		snap.tokenExpiry, snap.hasTokenExpiry = exp, true
	}
	res, err := c.scanner.Scan(ctx, agg.visit)
	if retry, why := c.shouldRescan(ctx, res, err, time.Since(start)); retry {
		// Entries moved between pages while they were read (a user logging
		// in reorders a list sorted by last login): one more pass, from a
		// clean slate, usually reads a quiet list.
		level.Warn(c.logger).Log("msg", "reading the list again", "reason", why, "err", err)
		first := res.Requests
		agg = newAggregator(c, now)
		res, err = c.scanner.Scan(ctx, agg.visit)
		if res != nil {
			res.Requests += first
		}
	}
	snap.duration = time.Since(start).Seconds()
	if res != nil {
		snap.requests = res.Requests
		if res.Pages > 0 {
			snap.reported = res.LastTotal
		}
		snap.duplicates = res.DuplicateUsers + res.DuplicateDevices
	}
	if err != nil {
		snap.err = err
		kv := []any{"msg", "SafeConsole scrape failed", "kind", safeconsole.KindOf(err), "err", err,
			"duration_seconds", fmt.Sprintf("%.3f", snap.duration), "requests", snap.requests}
		if safeconsole.KindOf(err) == safeconsole.KindTimeout {
			// Say how long the whole list would take and what to raise.
			kv = append(kv, c.deadlineAdvice(res, time.Since(start), timeout)...)
		}
		level.Error(c.logger).Log(kv...)
		return snap
	}
	if res.OUsErr != nil {
		if !c.ouFallbackLogged.Swap(true) {
			level.Warn(c.logger).Log("msg", "OU names unavailable, labelling drives with numeric OU ids", "err", res.OUsErr)
		}
	} else {
		c.ouFallbackLogged.Store(false)
	}
	if res.Shifted() {
		level.Warn(c.logger).Log("msg", "the fleet changed while it was being paged", "first_total", res.FirstTotal,
			"last_total", res.LastTotal, "duplicates_dropped", snap.duplicates)
	}
	if snap.duration > 0.8*snap.timeout {
		level.Warn(c.logger).Log(append([]any{"msg", "scrape used most of its deadline", "duration_seconds", fmt.Sprintf("%.3f", snap.duration),
			"timeout_seconds", fmt.Sprintf("%.3f", snap.timeout), "requests", res.Requests},
			c.deadlineAdvice(res, time.Since(start), timeout)...)...)
	}
	agg.finish(snap, res.OUs)
	level.Debug(c.logger).Log("msg", "SafeConsole scrape done", "users", res.Users, "drives", res.Devices,
		"pages", res.Pages, "requests", res.Requests, "duration_seconds", fmt.Sprintf("%.3f", snap.duration))
	return snap
}

// shouldRescan allows one more pass when a scan found the list moving under
// it and the deadline leaves room for another pass of the same length.
func (c *Collector) shouldRescan(ctx context.Context, res *safeconsole.ScanResult, err error, took time.Duration) (bool, string) {
	if res == nil || safeconsole.KindOf(err) != safeconsole.KindInconsistent {
		return false, ""
	}
	if !res.Shifted() && res.DuplicateUsers == 0 {
		return false, "" // a server that is simply inconsistent: no use asking again
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < took*3/2 {
		return false, ""
	}
	return true, "the list changed while it was paged"
}

// CloseIdleConnections releases the scanner's idle connections when it has
// any, for a collector that is being dropped.
func (c *Collector) CloseIdleConnections() {
	if ic, ok := c.scanner.(interface{ CloseIdleConnections() }); ok {
		ic.CloseIdleConnections()
	}
}

// pagingConfig is what *safeconsole.Client tells about its paging; with it
// the collector can say which setting to raise for a scrape that does not
// fit its deadline.
type pagingConfig interface {
	Config() safeconsole.Config
}

// deadlineBudget is the share of the deadline the list may take; the rest
// is for building and sending the metrics.
const deadlineBudget = 0.8

// deadlineAdvice returns log key-values for a scan that took (or would
// take) too much of its deadline: the pages read and needed, the time per
// round of concurrent requests, the projected time for the whole list, and
// which setting would make it fit.
func (c *Collector) deadlineAdvice(res *safeconsole.ScanResult, took, timeout time.Duration) []any {
	pageSize, concurrency := 0, 0
	if pc, ok := c.scanner.(pagingConfig); ok {
		cfg := pc.Config()
		pageSize, concurrency = cfg.PageSize, cfg.Concurrency
	}
	e := estimateDeadline(res, took, timeout, pageSize, concurrency)
	kv := []any{"pages_read", e.pagesRead}
	if e.pagesNeeded > 0 {
		kv = append(kv, "pages_needed", e.pagesNeeded)
	}
	if e.perRound > 0 {
		kv = append(kv, "seconds_per_round", fmt.Sprintf("%.3f", e.perRound.Seconds()))
	}
	if e.need > 0 {
		kv = append(kv, "estimated_seconds", fmt.Sprintf("%.1f", e.need.Seconds()))
	}
	return append(kv, "advice", e.advice())
}

// deadlineEstimate projects a scan's duration from what it read. A scan is
// one round for the first page, then the remaining pages in rounds of
// `concurrency` requests; a round takes about one request's latency.
type deadlineEstimate struct {
	timeout                 time.Duration
	pageSize, concurrency   int
	pagesRead, pagesNeeded  int
	capped                  bool // the server answers smaller pages than asked for
	perRound, need          time.Duration
	concurrencyFit, sizeFit int // settings that fit the budget; 0: none does
}

func rounds(pages, concurrency int) int {
	if pages <= 1 || concurrency <= 0 {
		return max(pages, 1)
	}
	return 1 + (pages-1+concurrency-1)/concurrency
}

func estimateDeadline(res *safeconsole.ScanResult, took, timeout time.Duration, pageSize, concurrency int) deadlineEstimate {
	e := deadlineEstimate{timeout: timeout, pageSize: pageSize, concurrency: concurrency}
	if res == nil || res.Pages == 0 || pageSize <= 0 || concurrency <= 0 {
		if res != nil {
			e.pagesRead = res.Pages
		}
		return e
	}
	e.pagesRead = res.Pages
	total := max(res.LastTotal, int64(res.Users))
	// A server may cap the page size; then pages hold fewer entries than
	// asked for and a larger setting changes nothing.
	if perPage := (res.Users + res.Pages - 1) / res.Pages; res.Pages >= 3 && perPage < pageSize*9/10 {
		e.capped = true
		e.pageSize = max(perPage, 1)
	}
	e.pagesNeeded = int((total + int64(e.pageSize) - 1) / int64(e.pageSize))
	e.perRound = took / time.Duration(rounds(e.pagesRead, concurrency))
	e.need = e.perRound * time.Duration(rounds(e.pagesNeeded, concurrency))

	allowed := int(float64(timeout) * deadlineBudget / float64(e.perRound)) // rounds that fit
	if allowed < 2 {
		return e // even two rounds do not fit: only a longer deadline helps
	}
	// Concurrency that fits: the remaining pages in allowed-1 rounds.
	if c := (e.pagesNeeded - 1 + allowed - 2) / (allowed - 1); c <= 64 {
		e.concurrencyFit = max(c, concurrency)
	}
	// Page size that fits at this concurrency, if rounds take as long with
	// larger pages (they take somewhat longer: a rough guide).
	if !e.capped {
		fit := 1 + (allowed-1)*concurrency // pages that fit
		e.sizeFit = int((total + int64(fit) - 1) / int64(fit))
		e.sizeFit = max(e.sizeFit, pageSize)
	}
	return e
}

// advice says which setting to raise, with the numbers.
func (e deadlineEstimate) advice() string {
	timeoutFit := ""
	if e.need > 0 {
		timeoutFit = fmt.Sprintf(" to at least %.0fs", math.Ceil(e.need.Seconds()/deadlineBudget))
	}
	if e.concurrencyFit == 0 && e.sizeFit == 0 {
		return "raise the scrape timeout" + timeoutFit + ": each round of requests takes too long for larger pages or more concurrency to help"
	}
	var parts []string
	if e.concurrencyFit > e.concurrency {
		parts = append(parts, fmt.Sprintf("--safeconsole.concurrency from %d to %d", e.concurrency, e.concurrencyFit))
	}
	if e.sizeFit > e.pageSize {
		parts = append(parts, fmt.Sprintf("--safeconsole.page-size from %d to %d (if the server accepts pages that large)", e.pageSize, e.sizeFit))
	}
	parts = append(parts, "the scrape timeout"+timeoutFit)
	advice := "raise " + parts[0]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			advice += ", or " + p
		} else {
			advice += ", " + p
		}
	}
	if e.capped {
		advice += fmt.Sprintf("; the server answers at most about %d entries per page", e.pageSize)
	}
	return advice
}
