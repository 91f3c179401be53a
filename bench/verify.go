package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// groundTruth is what the simulator's independent Tally says a scrape of
// the fleet must report.
type groundTruth struct {
	devices int
	users   int
	tally   safeconsoletest.Tally
	drives  map[string]safeconsoletest.DeviceTruth // by serial
}

func newGroundTruth(f *safeconsoletest.Fleet) *groundTruth {
	g := &groundTruth{devices: f.DeviceCount(), users: len(f.Users), tally: f.Tally(safeconsoletest.TallyOptions{})}
	truths := f.DeviceTruths(safeconsoletest.TallyOptions{})
	g.drives = make(map[string]safeconsoletest.DeviceTruth, len(truths))
	for _, d := range truths {
		g.drives[d.Serial] = d
	}
	return g
}

// mismatches collects the first few differences.
type mismatches struct {
	n    int
	msgs []string
}

func (m *mismatches) add(format string, args ...any) {
	m.n++
	if len(m.msgs) < 10 {
		m.msgs = append(m.msgs, fmt.Sprintf(format, args...))
	}
}

func (m *mismatches) err() error {
	if m.n == 0 {
		return nil
	}
	return fmt.Errorf("%d differences from the ground truth, first: %q", m.n, m.msgs)
}

func labels(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func groupOf(l map[string]string) safeconsoletest.GroupKey {
	return safeconsoletest.GroupKey{OU: l["ou"], Country: l["country"], Version: l["version"]}
}

// verify checks a scrape's exposition against the ground truth: every
// fleet family series by series, and with devices on every drive's series.
func (g *groundTruth) verify(text []byte, devices bool) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return fmt.Errorf("parsing the exposition: %w", err)
	}
	var m mismatches
	gauge := func(name string) []*dto.Metric {
		f := fams[name]
		if f == nil {
			m.add("family %s missing", name)
			return nil
		}
		return f.GetMetric()
	}
	if up := gauge("safeconsole_up"); len(up) != 1 || up[0].GetGauge().GetValue() != 1 {
		return errors.New("safeconsole_up is not 1")
	}

	total := 0.0
	seen := 0
	for _, s := range gauge("safeconsole_devices") {
		l := labels(s)
		k := safeconsoletest.DeviceKey{OU: l["ou"], Country: l["country"], Version: l["version"], Status: l["status"]}
		v := s.GetGauge().GetValue()
		total += v
		seen++
		if want := g.tally.Devices[k]; float64(want) != v {
			m.add("safeconsole_devices%v = %v, want %d", k, v, want)
		}
	}
	if seen != len(g.tally.Devices) {
		m.add("safeconsole_devices has %d series, want %d", seen, len(g.tally.Devices))
	}
	if int(total) != g.devices {
		m.add("sum(safeconsole_devices) = %v, want %d", total, g.devices)
	}
	for name, want := range map[string]map[safeconsoletest.GroupKey]int{
		"safeconsole_devices_online":            g.tally.Online,
		"safeconsole_devices_disabled":          g.tally.Disabled,
		"safeconsole_devices_firmware_outdated": g.tally.Outdated,
		"safeconsole_devices_never_seen":        g.tally.NeverSeen,
	} {
		series := gauge(name)
		if len(series) != len(want) {
			m.add("%s has %d series, want %d", name, len(series), len(want))
		}
		for _, s := range series {
			k := groupOf(labels(s))
			if w, ok := want[k]; !ok || float64(w) != s.GetGauge().GetValue() {
				m.add("%s%v = %v, want %d", name, k, s.GetGauge().GetValue(), w)
			}
		}
	}
	hist := fams["safeconsole_devices_last_seen_age_seconds"]
	if hist == nil || len(hist.GetMetric()) != len(g.tally.LastSeen) {
		m.add("last-seen histogram has %d series, want %d", len(hist.GetMetric()), len(g.tally.LastSeen))
	} else {
		for _, s := range hist.GetMetric() {
			k := groupOf(labels(s))
			want := g.tally.LastSeen[k]
			h := s.GetHistogram()
			if want == nil || h.GetSampleCount() != want.Count || math.Abs(h.GetSampleSum()-want.Sum) > 1e-6*math.Max(1, want.Sum) {
				m.add("last-seen histogram %v: count %d sum %v", k, h.GetSampleCount(), h.GetSampleSum())
				continue
			}
			for i, b := range h.GetBucket() {
				if i == len(want.Buckets) && math.IsInf(b.GetUpperBound(), 1) && b.GetCumulativeCount() == want.Count {
					continue // the parser adds +Inf, which is the count
				}
				if i >= len(want.Buckets) || b.GetUpperBound() != want.Buckets[i] || b.GetCumulativeCount() != want.Counts[i] {
					m.add("last-seen histogram %v bucket %d (le %v) = %d", k, i, b.GetUpperBound(), b.GetCumulativeCount())
				}
			}
		}
	}
	users := 0.0
	for _, s := range gauge("safeconsole_users") {
		ou := labels(s)["ou"]
		users += s.GetGauge().GetValue()
		if w := g.tally.Users[ou]; float64(w) != s.GetGauge().GetValue() {
			m.add("safeconsole_users{ou=%q} = %v, want %d", ou, s.GetGauge().GetValue(), w)
		}
	}
	if int(users) != g.users {
		m.add("sum(safeconsole_users) = %v, want %d", users, g.users)
	}

	perDrive := []string{"safeconsole_device_info", "safeconsole_device_online",
		"safeconsole_device_firmware_outdated", "safeconsole_device_last_seen_timestamp_seconds"}
	if !devices {
		for _, name := range perDrive {
			if fams[name] != nil {
				m.add("%s present with per-drive series off", name)
			}
		}
		return m.err()
	}
	g.verifyDrives(fams, &m)
	return m.err()
}

func (g *groundTruth) verifyDrives(fams map[string]*dto.MetricFamily, m *mismatches) {
	b01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	used := 0
	for _, d := range g.drives {
		if !d.NeverUsed {
			used++
		}
	}
	for name, want := range map[string]int{
		"safeconsole_device_info": len(g.drives), "safeconsole_device_online": len(g.drives),
		"safeconsole_device_firmware_outdated": len(g.drives), "safeconsole_device_last_seen_timestamp_seconds": used,
	} {
		if got := len(fams[name].GetMetric()); got != want {
			m.add("%s has %d series, want %d", name, got, want)
		}
	}
	for _, s := range fams["safeconsole_device_info"].GetMetric() {
		l := labels(s)
		d, ok := g.drives[l["serial"]]
		if !ok || l["ou"] != d.OU || l["country"] != d.Country || l["version"] != d.Version || l["status"] != d.Status || s.GetGauge().GetValue() != 1 {
			m.add("safeconsole_device_info%v, want %+v", l, d)
		}
	}
	check := func(name string, value func(safeconsoletest.DeviceTruth) float64) {
		for _, s := range fams[name].GetMetric() {
			serial := labels(s)["serial"]
			d, ok := g.drives[serial]
			if !ok || s.GetGauge().GetValue() != value(d) {
				m.add("%s{serial=%q} = %v, want %v", name, serial, s.GetGauge().GetValue(), value(d))
			}
		}
	}
	check("safeconsole_device_online", func(d safeconsoletest.DeviceTruth) float64 { return b01(d.Online) })
	check("safeconsole_device_firmware_outdated", func(d safeconsoletest.DeviceTruth) float64 { return b01(d.Outdated) })
	check("safeconsole_device_last_seen_timestamp_seconds", func(d safeconsoletest.DeviceTruth) float64 {
		if d.NeverUsed {
			return math.NaN() // never equal: a never-used drive must have no series
		}
		return float64(d.LastUsed.Unix())
	})
}

// requestsReported reads safeconsole_scrape_requests from an exposition.
func requestsReported(text []byte) (int, error) {
	const prefix = "\nsafeconsole_scrape_requests "
	i := bytes.Index(text, []byte(prefix))
	if i < 0 {
		return 0, errors.New("no safeconsole_scrape_requests in the exposition")
	}
	rest := text[i+len(prefix):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	return strconv.Atoi(string(rest))
}
