package safeconsoletest

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultBuckets are the upper bounds, in seconds, of the product's
// last-seen age histogram: 1h, 1d, 7d, 30d, 90d, 365d (+Inf is implicit).
var DefaultBuckets = []float64{3600, 86400, 604800, 2592000, 7776000, 31536000}

// DeviceKey is the label set of safeconsole_devices.
type DeviceKey struct{ OU, Country, Version, Status string }

// GroupKey is the label set of the per-group fleet gauges.
type GroupKey struct{ OU, Country, Version string }

// AgeHistogram is the expected safeconsole_devices_last_seen_age_seconds
// histogram of one group. Counts[i] is cumulative: drives whose age is at most
// Buckets[i]. Count includes the +Inf bucket.
type AgeHistogram struct {
	Buckets []float64
	Counts  []uint64
	Count   uint64
	Sum     float64
}

// Tally is what an exporter reading the fleet should report.
//
// Online, Disabled, Outdated, NeverSeen and LastSeen have an entry for every
// group that has at least one drive, zero values included, so a comparison
// can tell a zero from a missing group. Devices and Users only have entries
// for label sets that occur.
type Tally struct {
	Devices                               map[DeviceKey]int
	Online, Disabled, Outdated, NeverSeen map[GroupKey]int
	LastSeen                              map[GroupKey]*AgeHistogram
	Users                                 map[string]int // user entries by OU label
}

// TallyOptions parameterises Tally the way the exporter's flags do.
type TallyOptions struct {
	Now            time.Time // zero means Fleet.Now
	Buckets        []float64 // nil means DefaultBuckets
	MinimumVersion string    // "" means a drive is outdated when its isUpdated flag is false
}

// DeviceTruth is what the exporter should report for one drive.
type DeviceTruth struct {
	Serial    string
	UserID    int64
	UserEmail string
	Owner     string // the drive's owner field, as served
	// Labels, as the exporter should emit them.
	OU, Country, Version, Status string
	Online, Disabled, Outdated   bool
	NeverUsed                    bool
	LastUsed                     time.Time // truncated to whole seconds, as served; zero when NeverUsed
	AgeSeconds                   float64   // TallyOptions.Now minus LastUsed; 0 when NeverUsed
}

// Group returns the drive's group label set.
func (d DeviceTruth) Group() GroupKey { return GroupKey{d.OU, d.Country, d.Version} }

// Key returns the drive's safeconsole_devices label set.
func (d DeviceTruth) Key() DeviceKey { return DeviceKey{d.OU, d.Country, d.Version, d.Status} }

// DeviceTruths returns the expected values of every drive, in user ID order
// and then in the user's drive order.
func (f *Fleet) DeviceTruths(o TallyOptions) []DeviceTruth {
	f.mu.RLock()
	defer f.mu.RUnlock()
	o = f.normalise(o)
	ous := f.ouLabels()
	n := 0
	for i := range f.Users {
		n += len(f.Users[i].Devices)
	}
	out := make([]DeviceTruth, 0, n)
	for i := range f.Users {
		u := &f.Users[i]
		for j := range u.Devices {
			out = append(out, truth(u, &u.Devices[j], ous, o))
		}
	}
	return out
}

// LookupDevice returns the expected values of the drive with the given
// serial. If several drives share the serial, the first in ID order wins.
func (f *Fleet) LookupDevice(serial string, o TallyOptions) (DeviceTruth, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for i := range f.Users {
		u := &f.Users[i]
		for j := range u.Devices {
			if u.Devices[j].Serial == serial {
				return truth(u, &u.Devices[j], f.ouLabels(), f.normalise(o)), true
			}
		}
	}
	return DeviceTruth{}, false
}

// Tally computes the expected fleet gauges.
func (f *Fleet) Tally(o TallyOptions) Tally {
	f.mu.RLock()
	defer f.mu.RUnlock()
	o = f.normalise(o)
	ous := f.ouLabels()
	t := Tally{
		Devices:   map[DeviceKey]int{},
		Online:    map[GroupKey]int{},
		Disabled:  map[GroupKey]int{},
		Outdated:  map[GroupKey]int{},
		NeverSeen: map[GroupKey]int{},
		LastSeen:  map[GroupKey]*AgeHistogram{},
		Users:     map[string]int{},
	}
	for i := range f.Users {
		u := &f.Users[i]
		t.Users[ouLabel(u.OU, ous)]++
		for j := range u.Devices {
			d := truth(u, &u.Devices[j], ous, o)
			g := d.Group()
			t.Devices[d.Key()]++
			t.Online[g] += b2i(d.Online)
			t.Disabled[g] += b2i(d.Disabled)
			t.Outdated[g] += b2i(d.Outdated)
			t.NeverSeen[g] += b2i(d.NeverUsed)
			h := t.LastSeen[g]
			if h == nil {
				h = &AgeHistogram{Buckets: o.Buckets, Counts: make([]uint64, len(o.Buckets))}
				t.LastSeen[g] = h
			}
			if d.NeverUsed {
				continue
			}
			h.Count++
			h.Sum += d.AgeSeconds
			for k, ub := range h.Buckets {
				if d.AgeSeconds <= ub {
					h.Counts[k]++
				}
			}
		}
	}
	return t
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (f *Fleet) normalise(o TallyOptions) TallyOptions {
	if o.Now.IsZero() {
		o.Now = f.Now
	}
	if o.Buckets == nil {
		o.Buckets = DefaultBuckets
	}
	o.Buckets = append([]float64(nil), o.Buckets...)
	sort.Float64s(o.Buckets)
	return o
}

func (f *Fleet) ouLabels() map[int64]string {
	m := make(map[int64]string, len(f.OUs))
	for _, ou := range f.OUs {
		m[ou.ID] = ou.Path
	}
	return m
}

// ouLabel is the product rule: the OU's path, or its ID in decimal when the
// OU list does not know it.
func ouLabel(id int64, ous map[int64]string) string {
	if p, ok := ous[id]; ok {
		return p
	}
	return strconv.FormatInt(id, 10)
}

func truth(u *User, d *Device, ous map[int64]string, o TallyOptions) DeviceTruth {
	t := DeviceTruth{
		Serial:    d.Serial,
		UserID:    u.ID,
		UserEmail: u.Email,
		Owner:     d.Owner,
		OU:        ouLabel(u.OU, ous),
		Country:   d.Country,
		Version:   d.Version,
		Status:    lowerStatus(d.Status),
		Online:    d.Online,
		Disabled:  d.Status == "DISABLED",
		Outdated:  outdated(d, o.MinimumVersion),
		NeverUsed: d.LastUsed.IsZero(),
	}
	if t.Country == "" {
		t.Country = u.Country
	}
	if t.Country == "" {
		t.Country = "unknown"
	}
	if t.Version == "" {
		t.Version = "unknown"
	}
	if t.Status == "" {
		t.Status = "unknown"
	}
	if !t.NeverUsed {
		// The wire format has whole seconds; the exporter can only know those.
		t.LastUsed = d.LastUsed.UTC().Truncate(time.Second)
		t.AgeSeconds = o.Now.Sub(t.LastUsed).Seconds()
	}
	return t
}

var lowerStatuses = func() map[string]string {
	m := make(map[string]string, len(Statuses))
	for _, st := range Statuses {
		m[st] = strings.ToLower(st)
	}
	return m
}()

// lowerStatus is strings.ToLower without an allocation per drive for the
// statuses every fleet is made of.
func lowerStatus(s string) string {
	if l, ok := lowerStatuses[s]; ok {
		return l
	}
	return strings.ToLower(s)
}

// outdated is the product rule: with a minimum version, a known version that
// compares below it component by component; otherwise (no minimum, no
// version, or a version that is not purely numeric) the server's isUpdated
// flag, negated.
func outdated(d *Device, minimum string) bool {
	if minimum == "" {
		return !d.Updated
	}
	c, ok := compareVersions(d.Version, minimum)
	if !ok || d.Version == "" {
		return !d.Updated
	}
	return c < 0
}

// compareVersions compares dotted numeric versions component by component
// ("6.10" > "6.9"; missing components are 0) without allocating, since it
// runs once per drive. ok is false when either side has a component that is
// empty, not all digits, or too large for uint64.
func compareVersions(a, b string) (c int, ok bool) {
	for a != "" || b != "" {
		var x, y uint64
		var okx, oky bool
		if x, a, okx = nextComponent(a); !okx {
			return 0, false
		}
		if y, b, oky = nextComponent(b); !oky {
			return 0, false
		}
		if c == 0 {
			switch {
			case x < y:
				c = -1
			case x > y:
				c = 1
			}
		}
	}
	return c, true
}

// nextComponent parses the leading component of a dotted version. An
// exhausted version yields 0, as a missing component counts as 0.
func nextComponent(v string) (n uint64, rest string, ok bool) {
	if v == "" {
		return 0, "", true
	}
	i := strings.IndexByte(v, '.')
	part := v
	if i >= 0 {
		part, rest = v[:i], v[i+1:]
		if rest == "" {
			return 0, "", false // trailing dot: an empty component
		}
	}
	if part == "" {
		return 0, "", false
	}
	for j := 0; j < len(part); j++ {
		if part[j] < '0' || part[j] > '9' {
			return 0, "", false
		}
	}
	n, err := strconv.ParseUint(part, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, rest, true
}
