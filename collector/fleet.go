package collector

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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

type groupStats struct {
	id int32 // index in the aggregator's keys
	// statuses counts drives by status label; a group has a handful, so a
	// short list beats a map lookup per drive.
	statuses                              []statusCount
	online, disabled, outdated, neverSeen uint64
	// buckets holds per-bound counts (not cumulative); the last slot counts
	// ages above the highest bound.
	buckets []uint64
	sum     float64
	count   uint64
	// Both lists start in the struct itself, so that counting a drive
	// touches one allocation rather than three: at 100,000 drives the
	// groups are visited at random, a cache miss each.
	statusInline [4]statusCount
	bucketInline [8]uint64
}

// newGroupStats returns a group with room for nb bucket counts.
func newGroupStats(id int32, nb int) *groupStats {
	g := &groupStats{id: id}
	g.statuses = g.statusInline[:0]
	if nb <= len(g.bucketInline) {
		g.buckets = g.bucketInline[:nb]
	} else {
		g.buckets = make([]uint64, nb)
	}
	return g
}

type statusCount struct {
	label string
	n     uint64
}

func (g *groupStats) addStatus(label string) {
	for i := range g.statuses {
		if g.statuses[i].label == label {
			g.statuses[i].n++
			return
		}
	}
	g.statuses = append(g.statuses, statusCount{label, 1})
}

type deviceRecord struct {
	serial, country, version, status, owner string
	ouName                                  string // the ou label, filled in by finish
	ou                                      ouRef
	group                                   int32 // index in the aggregator's keys
	online, outdated, used                  bool
	plainSerial                             bool // the serial needs no escaping
	lastUsed                                int64
}

// aggregator folds pages into per-group counts as they arrive, so memory
// grows with the number of label combinations, not with the fleet (the
// per-drive records aside, which exist only when those series are on).
type aggregator struct {
	c       *Collector
	now     int64
	bounds  []float64
	groups  map[groupKey]*groupStats
	keys    []groupKey // by groupStats.id
	users   map[ouRef]uint64
	devices []deviceRecord

	statusLabel map[string]string
	// lastStatus and lastLabel short-cut statusLabel: most drives share
	// one status, and the decoder interns it.
	lastStatus, lastLabel string
	outdatedFor           map[string]int8 // version -> 1 outdated, 0 not, -1 not comparable
}

func newAggregator(c *Collector, now time.Time) *aggregator {
	return &aggregator{
		c:           c,
		now:         now.Unix(),
		bounds:      c.opts.LastSeenBuckets,
		groups:      make(map[groupKey]*groupStats),
		users:       make(map[ouRef]uint64),
		statusLabel: make(map[string]string),
		outdatedFor: make(map[string]int8),
	}
}

func (a *aggregator) visit(p *safeconsole.Page) {
	if a.c.opts.Devices && a.devices == nil && len(p.Users) > 0 {
		// Size the per-drive records for the whole list from the first
		// page, rather than doubling (and copying) them up to it.
		perUser := float64(len(p.Devices)) / float64(len(p.Users))
		a.devices = make([]deviceRecord, 0, int(float64(p.Total)*perUser*1.05)+len(p.Devices))
	}
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
			g = newGroupStats(int32(len(a.keys)), len(a.bounds)+1)
			a.groups[key] = g
			a.keys = append(a.keys, key)
		}
		status := a.lastLabel
		if d.Status != a.lastStatus || status == "" {
			status = a.label(d.Status)
			a.lastStatus, a.lastLabel = d.Status, status
		}
		g.addStatus(status)
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
			b := 0 // the first bound >= age, as sort.SearchFloat64s finds it
			for b < len(a.bounds) && a.bounds[b] < age {
				b++
			}
			g.buckets[b]++
			g.sum += age
			g.count++
		} else {
			g.neverSeen++
		}
		if a.c.opts.Devices {
			a.devices = append(a.devices, deviceRecord{
				serial: d.Serial, ou: key.ou, country: country, version: version, status: status,
				owner: d.Owner, group: g.id, online: d.Online, outdated: outdated, used: d.Used,
				plainSerial: plainLabelValue(d.Serial), lastUsed: d.LastUsed,
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
	groups   map[[3]string]*groupStats // ou, country, version
	statuses map[[4]string]uint64      // ou, country, version, status
	users    map[string]uint64
	devices  []deviceRecord
	// deviceGroups holds the label values of deviceRecord.group.
	deviceGroups []deviceGroup
	// bySerial and byInfo are device indexes in the order the registry
	// sorts the per-drive families into (label values in label-name
	// order): a sorted input makes the registry's sort linear. Computed
	// once per collection, by the first scrape that sends the per-drive
	// series through a registry (the text path needs no order).
	ordersOnce       sync.Once
	bySerial, byInfo []int32
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
		statuses: make(map[[4]string]uint64, len(a.groups)),
		users:    make(map[string]uint64, len(a.users)),
		devices:  a.devices,
	}
	for k, g := range a.groups {
		lk := [3]string{name(k.ou), k.country, k.version}
		if m := f.groups[lk]; m != nil {
			m.merge(g)
		} else {
			f.groups[lk] = g
		}
	}
	for k, g := range a.groups {
		ou := name(k.ou)
		for _, sc := range g.statuses {
			f.statuses[[4]string{ou, k.country, k.version, sc.label}] += sc.n
		}
	}
	for k, n := range a.users {
		f.users[name(k)] += n
	}
	if len(f.devices) > 0 {
		f.deviceGroups = make([]deviceGroup, len(a.keys))
		for i, k := range a.keys {
			f.deviceGroups[i] = deviceGroup{ou: name(k.ou), country: k.country, version: k.version}
		}
		for i := range f.devices {
			d := &f.devices[i]
			d.ouName = f.deviceGroups[d.group].ou
		}
	}
	snap.fleet = f
	// The snapshot owns the results now. The aggregator's visit function
	// may outlive the collection (the client is free to keep its scan's
	// state), so it must not keep them reachable.
	a.groups, a.keys, a.users, a.devices = nil, nil, nil, nil
}

// deviceGroup is the (OU, country, version) of drives in one group.
type deviceGroup struct {
	ou, country, version string
}

// deviceOrders sorts the drives by serial, and by country, OU (owner) and
// serial: the orders of the serial-only families and of
// safeconsole_device_info. The second is a counting sort of the first over
// the few (country, OU) pairs, so only one large comparison sort runs.
func deviceOrders(devs []deviceRecord, owner bool) (bySerial, byInfo []int32) {
	bySerial = make([]int32, len(devs))
	for i := range bySerial {
		bySerial[i] = int32(i)
	}
	slices.SortFunc(bySerial, func(a, b int32) int { return strings.Compare(devs[a].serial, devs[b].serial) })

	type place struct{ country, ou, owner string }
	placeOf := func(d *deviceRecord) place {
		if owner {
			return place{d.country, d.ouName, d.owner}
		}
		return place{d.country, d.ouName, ""}
	}
	bucket := make(map[place]int)
	var places []place
	for i := range devs {
		p := placeOf(&devs[i])
		if _, ok := bucket[p]; !ok {
			bucket[p] = 0
			places = append(places, p)
		}
	}
	slices.SortFunc(places, func(a, b place) int {
		if c := strings.Compare(a.country, b.country); c != 0 {
			return c
		}
		if c := strings.Compare(a.ou, b.ou); c != 0 {
			return c
		}
		return strings.Compare(a.owner, b.owner)
	})
	starts := make([]int, len(places)+1)
	for i, p := range places {
		bucket[p] = i
	}
	slot := make([]int32, len(devs))
	for i := range devs {
		b := bucket[placeOf(&devs[i])]
		slot[i] = int32(b)
		starts[b+1]++
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	byInfo = make([]int32, len(devs))
	for _, i := range bySerial {
		b := slot[i]
		byInfo[starts[b]] = i
		starts[b]++
	}
	return bySerial, byInfo
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

// emit sends the snapshot's series; the per-drive ones only when they are
// on and withDevices asks for them.
func (s *snapshot) emit(ch chan<- prometheus.Metric, opts *Options, withDevices bool) {
	s.emitHealth(ch)
	if f := s.complete(); f != nil {
		f.emitGroups(ch)
		if withDevices && opts.Devices {
			f.emitDevices(ch, opts.OwnerEmail)
		}
	}
}

// complete returns the fleet when the whole list was read, else nil: a
// partial list would read as a shrinking fleet, so none of it is emitted.
func (s *snapshot) complete() *fleet {
	if s.err != nil {
		return nil
	}
	return s.fleet
}

// emitHealth sends the scrape's own series, which every outcome has.
func (s *snapshot) emitHealth(ch chan<- prometheus.Metric) {
	up := 0.0
	if s.complete() != nil {
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
}

// The fleet and per-drive families are built as lightweight metrics over
// label pairs allocated in bulk, rather than one NewConstMetric each (about
// fifteen allocations per series): at 100,000 drives the per-drive families
// alone are 400,000 series. The registry only reads what Write hands it, so
// label pairs and values are shared wherever they repeat.

// gaugeMetric is a gauge whose label pairs and value are owned by the
// emitting collection.
type gaugeMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	gauge  *dto.Gauge
}

func (m *gaugeMetric) Desc() *prometheus.Desc { return m.desc }

func (m *gaugeMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Gauge = m.gauge
	return nil
}

// histogramMetric is a classic histogram built the same way.
type histogramMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	hist   dto.Histogram
}

func (m *histogramMetric) Desc() *prometheus.Desc { return m.desc }

func (m *histogramMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Histogram = &m.hist
	return nil
}

// Label names, addressable for dto.LabelPair.
var (
	nameCountry = "country"
	nameOU      = "ou"
	nameOwner   = "owner"
	nameSerial  = "serial"
	nameStatus  = "status"
	nameVersion = "version"
)

// pairSlab hands out label pairs from one allocation.
type pairSlab struct {
	pairs []dto.LabelPair
	ptrs  []*dto.LabelPair
}

func newPairSlab(n int) *pairSlab {
	return &pairSlab{pairs: make([]dto.LabelPair, 0, n), ptrs: make([]*dto.LabelPair, 0, n)}
}

// labels returns a label set of the given (name, value) pairs, which must
// come sorted by name, as the registry expects them.
func (s *pairSlab) labels(nv ...*string) []*dto.LabelPair {
	start := len(s.ptrs)
	for i := 0; i < len(nv); i += 2 {
		s.pairs = append(s.pairs, dto.LabelPair{Name: nv[i], Value: nv[i+1]})
		s.ptrs = append(s.ptrs, &s.pairs[len(s.pairs)-1])
	}
	return s.ptrs[start:len(s.ptrs):len(s.ptrs)]
}

// gaugeSlab hands out gauges from one allocation.
type gaugeSlab struct {
	gauges []dto.Gauge
	values []float64
}

func newGaugeSlab(n int) *gaugeSlab {
	return &gaugeSlab{gauges: make([]dto.Gauge, 0, n), values: make([]float64, 0, n)}
}

func (s *gaugeSlab) gauge(v float64) *dto.Gauge {
	s.values = append(s.values, v)
	s.gauges = append(s.gauges, dto.Gauge{Value: &s.values[len(s.values)-1]})
	return &s.gauges[len(s.gauges)-1]
}

func sortedKeys[K comparable, V any](m map[K]V, cmp func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}

// compareFields compares string arrays field by field in the given order.
func compareFields[A ~[3]string | ~[4]string](order ...int) func(a, b A) int {
	return func(a, b A) int {
		for _, i := range order {
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	}
}

// emitGroups sends the fleet families, each in the registry's sort order.
func (f *fleet) emitGroups(ch chan<- prometheus.Metric) {
	// statuses: ou, country, version, status; labels by name: country, ou, status, version.
	statuses := sortedKeys(f.statuses, compareFields[[4]string](1, 0, 3, 2))
	groups := sortedKeys(f.groups, compareFields[[3]string](1, 0, 2))
	users := sortedKeys(f.users, strings.Compare)

	pairs := newPairSlab(4*len(statuses) + 3*len(groups) + len(users))
	gauges := newGaugeSlab(len(statuses) + 4*len(groups) + len(users))
	metrics := make([]gaugeMetric, 0, len(statuses)+4*len(groups)+len(users))
	send := func(desc *prometheus.Desc, labels []*dto.LabelPair, v float64) {
		metrics = append(metrics, gaugeMetric{desc: desc, labels: labels, gauge: gauges.gauge(v)})
		ch <- &metrics[len(metrics)-1]
	}

	for i := range statuses {
		k := &statuses[i]
		send(devicesDesc, pairs.labels(&nameCountry, &k[1], &nameOU, &k[0], &nameStatus, &k[3], &nameVersion, &k[2]), float64(f.statuses[*k]))
	}

	groupLabels := make([][]*dto.LabelPair, len(groups))
	for i := range groups {
		k := &groups[i]
		groupLabels[i] = pairs.labels(&nameCountry, &k[1], &nameOU, &k[0], &nameVersion, &k[2])
	}
	for _, fam := range []struct {
		desc  *prometheus.Desc
		value func(*groupStats) uint64
	}{
		{onlineDesc, func(g *groupStats) uint64 { return g.online }},
		{disabledDesc, func(g *groupStats) uint64 { return g.disabled }},
		{outdatedDesc, func(g *groupStats) uint64 { return g.outdated }},
		{neverSeenDesc, func(g *groupStats) uint64 { return g.neverSeen }},
	} {
		for i, k := range groups {
			send(fam.desc, groupLabels[i], float64(fam.value(f.groups[k])))
		}
	}

	nb := len(f.bounds)
	hists := make([]histogramMetric, len(groups))
	buckets := make([]dto.Bucket, len(groups)*nb)
	bucketPtrs := make([]*dto.Bucket, len(groups)*nb)
	cumulative := make([]uint64, len(groups)*nb)
	for i, k := range groups {
		g := f.groups[k]
		var running uint64
		for j := range f.bounds {
			running += g.buckets[j]
			b := i*nb + j
			cumulative[b] = running
			buckets[b] = dto.Bucket{CumulativeCount: &cumulative[b], UpperBound: &f.bounds[j]}
			bucketPtrs[b] = &buckets[b]
		}
		h := &hists[i]
		h.desc, h.labels = lastSeenDesc, groupLabels[i]
		h.hist = dto.Histogram{SampleCount: &g.count, SampleSum: &g.sum, Bucket: bucketPtrs[i*nb : (i+1)*nb : (i+1)*nb]}
		ch <- h
	}

	for i := range users {
		send(usersDesc, pairs.labels(&nameOU, &users[i]), float64(f.users[users[i]]))
	}
}

// emitDevices sends the per-drive families: four series per drive. Only
// the serial is unique to a drive: the country, OU, status and version
// label pairs are shared by every drive with the same value. Serials are
// copied into one string per family order, and everything is laid out in
// the order the series are sent, which is the order the registry checks,
// sorts and encodes them in: at 400,000 series, walking memory in order
// rather than hopping between records is most of the cost.
func (f *fleet) emitDevices(ch chan<- prometheus.Metric, owner bool) {
	f.ordersOnce.Do(func() { f.bySerial, f.byInfo = deviceOrders(f.devices, owner) })
	devs := f.devices
	n := len(devs)
	k := 5
	if owner {
		k = 6
	}
	metrics := make([]gaugeMetric, 0, 4*n)
	send := func(desc *prometheus.Desc, labels []*dto.LabelPair, g *dto.Gauge) {
		metrics = append(metrics, gaugeMetric{desc: desc, labels: labels, gauge: g})
		ch <- &metrics[len(metrics)-1]
	}
	// 0/1 values are shared; only the last-seen times differ per drive.
	zero, one := 0.0, 1.0
	gaugeZero, gaugeOne := &dto.Gauge{Value: &zero}, &dto.Gauge{Value: &one}
	bit := func(b bool) *dto.Gauge {
		if b {
			return gaugeOne
		}
		return gaugeZero
	}

	// Serial label pairs, one per drive for each of the two orders.
	serials := func(order []int32) []dto.LabelPair {
		size := 0
		for _, i := range order {
			size += len(devs[i].serial)
		}
		buf := make([]byte, 0, size)
		for _, i := range order {
			buf = append(buf, devs[i].serial...)
		}
		all := string(buf)
		vals := make([]string, n)
		pairs := make([]dto.LabelPair, n)
		off := 0
		for pos, i := range order {
			vals[pos] = all[off : off+len(devs[i].serial)]
			off += len(devs[i].serial)
			pairs[pos] = dto.LabelPair{Name: &nameSerial, Value: &vals[pos]}
		}
		return pairs
	}

	infoDesc := deviceInfoDesc(owner)
	country, ou, status, version := newPairCache(&nameCountry), newPairCache(&nameOU), newPairCache(&nameStatus), newPairCache(&nameVersion)
	var owners *pairCache
	if owner {
		owners = newPairCache(&nameOwner)
	}
	ptrs := make([]*dto.LabelPair, k*n)
	infoSerial := serials(f.byInfo)
	for pos, i := range f.byInfo {
		d := &devs[i]
		l := ptrs[pos*k : pos*k+k : pos*k+k]
		l[0], l[1] = country.pair(d.country), ou.pair(d.ouName)
		if owner {
			l[2], l[3], l[4], l[5] = owners.pair(d.owner), &infoSerial[pos], status.pair(d.status), version.pair(d.version)
		} else {
			l[2], l[3], l[4] = &infoSerial[pos], status.pair(d.status), version.pair(d.version)
		}
		send(infoDesc, l, gaugeOne)
	}

	bySerial := serials(f.bySerial)
	serialPtrs := make([]*dto.LabelPair, n)
	for pos, i := range f.bySerial {
		serialPtrs[pos] = &bySerial[pos]
		send(deviceOnlineDesc, serialPtrs[pos:pos+1:pos+1], bit(devs[i].online))
	}
	for pos, i := range f.bySerial {
		send(deviceOutdatedDesc, serialPtrs[pos:pos+1:pos+1], bit(devs[i].outdated))
	}
	gauges := newGaugeSlab(n)
	for pos, i := range f.bySerial {
		if devs[i].used {
			send(deviceLastSeenDesc, serialPtrs[pos:pos+1:pos+1], gauges.gauge(float64(devs[i].lastUsed)))
		}
	}
}

// pairCache shares one label pair per distinct value of a label.
type pairCache struct {
	name  *string
	last  *dto.LabelPair
	pairs map[string]*dto.LabelPair
}

func newPairCache(name *string) *pairCache {
	return &pairCache{name: name, pairs: make(map[string]*dto.LabelPair)}
}

func (c *pairCache) pair(v string) *dto.LabelPair {
	if c.last != nil && *c.last.Value == v {
		return c.last // drives sent in label order repeat values in runs
	}
	p := c.pairs[v]
	if p == nil {
		value := new(string) // not &v, which would move every call's v to the heap
		*value = v
		p = &dto.LabelPair{Name: c.name, Value: value}
		c.pairs[v] = p
	}
	c.last = p
	return p
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
