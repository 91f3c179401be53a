package collector

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
)

var (
	groupLabels  = []string{"ou", "country", "version"}
	statusLabels = []string{"ou", "country", "version", "status"}

	devicesDesc = prometheus.NewDesc(namespace+"_devices",
		"Drives, by OU, country, firmware version and SafeConsole status.", statusLabels, nil)
	onlineDesc = prometheus.NewDesc(namespace+"_devices_online",
		"Drives SafeConsole reports online.", groupLabels, nil)
	disabledDesc = prometheus.NewDesc(namespace+"_devices_disabled",
		"Drives whose SafeConsole status is DISABLED.", groupLabels, nil)
	outdatedDesc = prometheus.NewDesc(namespace+"_devices_firmware_outdated",
		"Drives running firmware below the configured minimum version, or that SafeConsole reports as not updated when no minimum is set.", groupLabels, nil)
	lastSeenDesc = prometheus.NewDesc(namespace+"_devices_last_seen_age_seconds",
		"Time since each drive was last used, as of the scrape; drives never used are in safeconsole_devices_never_seen instead.", groupLabels, nil)
	neverSeenDesc = prometheus.NewDesc(namespace+"_devices_never_seen",
		"Drives SafeConsole has no last-used time for.", groupLabels, nil)
	usersDesc = prometheus.NewDesc(namespace+"_users",
		"User entries in the SafeConsole list, by OU.", []string{"ou"}, nil)

	deviceOnlineDesc = prometheus.NewDesc(namespace+"_device_online",
		"Whether SafeConsole reports the drive online (1) or not (0).", []string{"serial"}, nil)
	deviceOutdatedDesc = prometheus.NewDesc(namespace+"_device_firmware_outdated",
		"Whether the drive's firmware is outdated (1) or not (0).", []string{"serial"}, nil)
	deviceLastSeenDesc = prometheus.NewDesc(namespace+"_device_last_seen_timestamp_seconds",
		"When the drive was last used, in Unix seconds; absent for drives never used.", []string{"serial"}, nil)

	upDesc = prometheus.NewDesc(namespace+"_up",
		"Whether the last scrape read the whole SafeConsole list (1) or failed (0).", nil, nil)
	durationDesc = prometheus.NewDesc(namespace+"_scrape_duration_seconds",
		"Time the scrape spent reading SafeConsole.", nil, nil)
	timeoutDesc = prometheus.NewDesc(namespace+"_scrape_timeout_seconds",
		"Deadline the scrape ran under.", nil, nil)
	requestsDesc = prometheus.NewDesc(namespace+"_scrape_requests",
		"API requests the scrape made, retries included.", nil, nil)
	reportedDesc = prometheus.NewDesc(namespace+"_scrape_users_reported",
		"Number of user entries the API reported as its total.", nil, nil)
	duplicatesDesc = prometheus.NewDesc(namespace+"_scrape_duplicate_entries",
		"Users and drives dropped as duplicates because pages shifted while the list was read.", nil, nil)
	tokenExpiryDesc = prometheus.NewDesc(namespace+"_api_token_expiry_timestamp_seconds",
		"Expiry of the API token (its JWT exp claim), in Unix seconds.", nil, nil)
)

func deviceInfoDesc(owner bool) *prometheus.Desc {
	if owner {
		return deviceInfoOwnerDesc
	}
	return deviceInfoPlainDesc
}

var (
	deviceInfoPlainDesc = prometheus.NewDesc(namespace+"_device_info",
		"Drive metadata; value 1.", []string{"serial", "ou", "country", "version", "status"}, nil)
	deviceInfoOwnerDesc = prometheus.NewDesc(namespace+"_device_info",
		"Drive metadata; value 1.", []string{"serial", "ou", "country", "version", "status", "owner"}, nil)
)

// ouRef is a user's OU id as sent; known is false when the entry had none.
type ouRef struct {
	id    int64
	known bool
}

type groupKey struct {
	ou      ouRef
	country string
	version string
}

type statusKey struct {
	group  groupKey
	status string
}

type groupStats struct {
	online, disabled, outdated, neverSeen uint64
	// buckets holds per-bound counts (not cumulative); the last slot counts
	// ages above the highest bound.
	buckets []uint64
	sum     float64
	count   uint64
}

type deviceRecord struct {
	serial, country, version, status, owner string
	ou                                      ouRef
	online, outdated, used                  bool
	lastUsed                                int64
}

// aggregator folds pages into per-group counts as they arrive, so memory
// grows with the number of label combinations, not with the fleet (the
// per-drive records aside, which exist only when those series are on).
type aggregator struct {
	c        *Collector
	now      int64
	bounds   []float64
	groups   map[groupKey]*groupStats
	statuses map[statusKey]uint64
	users    map[ouRef]uint64
	devices  []deviceRecord

	statusLabel map[string]string
	outdatedFor map[string]int8 // version -> 1 outdated, 0 not, -1 not comparable
}

func newAggregator(c *Collector, now time.Time) *aggregator {
	return &aggregator{
		c:           c,
		now:         now.Unix(),
		bounds:      c.opts.LastSeenBuckets,
		groups:      make(map[groupKey]*groupStats),
		statuses:    make(map[statusKey]uint64),
		users:       make(map[ouRef]uint64),
		statusLabel: make(map[string]string),
		outdatedFor: make(map[string]int8),
	}
}

func (a *aggregator) visit(p *safeconsole.Page) {
	for i := range p.Users {
		u := &p.Users[i]
		a.users[ouRef{u.OU, u.HasOU}]++
	}
	for i := range p.Devices {
		d := &p.Devices[i]
		u := &p.Users[d.User]
		country := d.Country
		if country == "" {
			country = u.Country
		}
		if country == "" {
			country = "unknown"
		}
		version := d.Version
		if version == "" {
			version = "unknown"
		}
		key := groupKey{ou: ouRef{u.OU, u.HasOU}, country: country, version: version}
		g := a.groups[key]
		if g == nil {
			g = &groupStats{buckets: make([]uint64, len(a.bounds)+1)}
			a.groups[key] = g
		}
		status := a.label(d.Status)
		a.statuses[statusKey{key, status}]++
		if d.Online {
			g.online++
		}
		if status == "disabled" {
			g.disabled++
		}
		outdated := a.outdated(d)
		if outdated {
			g.outdated++
		}
		if d.Used {
			age := float64(a.now - d.LastUsed)
			if age < 0 {
				age = 0 // a clock ahead of ours: seen just now
			}
			g.buckets[sort.SearchFloat64s(a.bounds, age)]++
			g.sum += age
			g.count++
		} else {
			g.neverSeen++
		}
		if a.c.opts.Devices {
			a.devices = append(a.devices, deviceRecord{
				serial: d.Serial, ou: key.ou, country: country, version: version, status: status,
				owner: d.Owner, online: d.Online, outdated: outdated, used: d.Used, lastUsed: d.LastUsed,
			})
		}
	}
}

// label lower-cases a SafeConsole status ("WAITING_FOR_DISABLE" ->
// "waiting_for_disable"); blanks become underscores, "" is "unknown".
func (a *aggregator) label(status string) string {
	if l, ok := a.statusLabel[status]; ok {
		return l
	}
	l := strings.ToLower(strings.TrimSpace(status))
	l = strings.NewReplacer(" ", "_", "-", "_").Replace(l)
	if l == "" {
		l = "unknown"
	}
	if len(a.statusLabel) < 1024 {
		a.statusLabel[status] = l
	}
	return l
}

// outdated applies the minimum version when one is set and the drive's
// version is comparable, and SafeConsole's isUpdated otherwise.
func (a *aggregator) outdated(d *safeconsole.Device) bool {
	if a.c.minimum == nil {
		return !d.Updated
	}
	verdict, ok := a.outdatedFor[d.Version]
	if !ok {
		verdict = -1
		if v, ok := parseVersion(d.Version); ok {
			verdict = 0
			if v.compare(a.c.minimum) < 0 {
				verdict = 1
			}
		}
		if len(a.outdatedFor) < 4096 {
			a.outdatedFor[d.Version] = verdict
		}
	}
	if verdict < 0 {
		return !d.Updated
	}
	return verdict == 1
}

// fleet is a finished collection with OU ids resolved to label values.
type fleet struct {
	bounds   []float64
	groups   map[[3]string]*groupStats
	statuses map[[4]string]uint64
	users    map[string]uint64
	devices  []deviceRecord
	ouNames  func(ouRef) string
}

// finish resolves OU ids to paths, merging groups whose ids share a path.
func (a *aggregator) finish(snap *snapshot, ous map[int64]string) {
	name := func(r ouRef) string {
		if !r.known {
			return "unknown"
		}
		if p, ok := ous[r.id]; ok && p != "" {
			return p
		}
		return strconv.FormatInt(r.id, 10)
	}
	f := &fleet{
		bounds:   a.bounds,
		groups:   make(map[[3]string]*groupStats, len(a.groups)),
		statuses: make(map[[4]string]uint64, len(a.statuses)),
		users:    make(map[string]uint64, len(a.users)),
		devices:  a.devices,
		ouNames:  name,
	}
	for k, g := range a.groups {
		lk := [3]string{name(k.ou), k.country, k.version}
		if m := f.groups[lk]; m != nil {
			m.merge(g)
		} else {
			f.groups[lk] = g
		}
	}
	for k, n := range a.statuses {
		f.statuses[[4]string{name(k.group.ou), k.group.country, k.group.version, k.status}] += n
	}
	for k, n := range a.users {
		f.users[name(k)] += n
	}
	snap.fleet = f
}

func (g *groupStats) merge(o *groupStats) {
	g.online += o.online
	g.disabled += o.disabled
	g.outdated += o.outdated
	g.neverSeen += o.neverSeen
	for i := range g.buckets {
		g.buckets[i] += o.buckets[i]
	}
	g.sum += o.sum
	g.count += o.count
}

// snapshot is one collection's outcome, shared by every scrape that joined
// it; each scrape builds its own const metrics from it.
type snapshot struct {
	err            error
	duration       float64
	timeout        float64
	requests       int
	reported       int64 // -1 when no list page was read
	duplicates     int
	tokenExpiry    time.Time
	hasTokenExpiry bool
	fleet          *fleet // nil unless the whole list was read
}

func (s *snapshot) emit(ch chan<- prometheus.Metric, opts *Options) {
	up := 0.0
	if s.err == nil && s.fleet != nil {
		up = 1
	}
	send(ch, upDesc, prometheus.GaugeValue, up)
	send(ch, durationDesc, prometheus.GaugeValue, s.duration)
	send(ch, timeoutDesc, prometheus.GaugeValue, s.timeout)
	send(ch, requestsDesc, prometheus.GaugeValue, float64(s.requests))
	send(ch, duplicatesDesc, prometheus.GaugeValue, float64(s.duplicates))
	if s.hasTokenExpiry {
		send(ch, tokenExpiryDesc, prometheus.GaugeValue, float64(s.tokenExpiry.Unix()))
	}
	if s.reported >= 0 {
		send(ch, reportedDesc, prometheus.GaugeValue, float64(s.reported))
	}
	if up == 0 {
		// A partial list would read as a shrinking fleet: emit none of it.
		return
	}
	s.fleet.emit(ch, opts)
}

func (f *fleet) emit(ch chan<- prometheus.Metric, opts *Options) {
	for k, n := range f.statuses {
		send(ch, devicesDesc, prometheus.GaugeValue, float64(n), k[:]...)
	}
	for k, g := range f.groups {
		lv := k[:]
		send(ch, onlineDesc, prometheus.GaugeValue, float64(g.online), lv...)
		send(ch, disabledDesc, prometheus.GaugeValue, float64(g.disabled), lv...)
		send(ch, outdatedDesc, prometheus.GaugeValue, float64(g.outdated), lv...)
		send(ch, neverSeenDesc, prometheus.GaugeValue, float64(g.neverSeen), lv...)
		cumulative := make(map[float64]uint64, len(f.bounds))
		var running uint64
		for i, b := range f.bounds {
			running += g.buckets[i]
			cumulative[b] = running
		}
		m, err := prometheus.NewConstHistogram(lastSeenDesc, g.count, g.sum, cumulative, lv...)
		if err != nil {
			m = prometheus.NewInvalidMetric(lastSeenDesc, err)
		}
		ch <- m
	}
	for ou, n := range f.users {
		send(ch, usersDesc, prometheus.GaugeValue, float64(n), ou)
	}
	if !opts.Devices {
		return
	}
	info := deviceInfoDesc(opts.OwnerEmail)
	for i := range f.devices {
		d := &f.devices[i]
		ou := f.ouNames(d.ou)
		if opts.OwnerEmail {
			send(ch, info, prometheus.GaugeValue, 1, d.serial, ou, d.country, d.version, d.status, d.owner)
		} else {
			send(ch, info, prometheus.GaugeValue, 1, d.serial, ou, d.country, d.version, d.status)
		}
		send(ch, deviceOnlineDesc, prometheus.GaugeValue, boolValue(d.online), d.serial)
		send(ch, deviceOutdatedDesc, prometheus.GaugeValue, boolValue(d.outdated), d.serial)
		if d.used {
			send(ch, deviceLastSeenDesc, prometheus.GaugeValue, float64(d.lastUsed), d.serial)
		}
	}
}

// send builds a const metric; a label value the client library refuses
// becomes an invalid metric (reported by the registry), never a panic.
func send(ch chan<- prometheus.Metric, desc *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(desc, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(desc, err)
	}
	ch <- m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
