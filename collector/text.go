package collector

import (
	"context"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Scrape is one scrape's collection, read once and then exposed either
// entirely through a registry or with the per-drive families written
// straight as text (WriteDeviceText). At 100,000 drives those families are
// 400,000 series; through a registry each costs a dto.Metric, label checks,
// a hash and a sort (about 2 µs), written directly about a twentieth.
type Scrape struct {
	snap *snapshot
	opts *Options
}

// Scrape runs a collection under ctx's deadline (joining one under way)
// and returns its outcome.
func (c *Collector) Scrape(ctx context.Context) *Scrape {
	return &Scrape{snap: c.snapshot(ctx), opts: &c.opts}
}

// Collector returns the scrape's metrics for a registry; without the
// per-drive families when withDevices is false (WriteDeviceText then
// writes them).
func (s *Scrape) Collector(withDevices bool) prometheus.Collector {
	return scrapeMetrics{s: s, devices: withDevices}
}

type scrapeMetrics struct {
	s       *Scrape
	devices bool
}

func (m scrapeMetrics) Describe(chan<- *prometheus.Desc) {}

func (m scrapeMetrics) Collect(ch chan<- prometheus.Metric) { m.s.snap.emit(ch, m.s.opts, m.devices) }

// hasDeviceText reports whether WriteDeviceText has anything to write.
func (s *Scrape) hasDeviceText() bool {
	return s.opts.Devices && s.snap.complete() != nil && len(s.snap.fleet.devices) > 0
}

// Text exposition of the per-drive families (format version 0.0.4, which
// text format 1.0.0 leaves unchanged for these names). Values and label
// values are written exactly as expfmt writes them, so a scrape reads the
// same series either way; the families come before the registry's, in the
// order the drives were read rather than sorted, which the format allows.

const textChunk = 64 << 10

const (
	infoHelp     = "# HELP safeconsole_device_info Drive metadata; value 1.\n# TYPE safeconsole_device_info gauge\n"
	onlineHelp   = "# HELP safeconsole_device_online Whether SafeConsole reports the drive online (1) or not (0).\n# TYPE safeconsole_device_online gauge\n"
	outdatedHelp = "# HELP safeconsole_device_firmware_outdated Whether the drive's firmware is outdated (1) or not (0).\n# TYPE safeconsole_device_firmware_outdated gauge\n"
	lastSeenHelp = "# HELP safeconsole_device_last_seen_timestamp_seconds When the drive was last used, in Unix seconds; absent for drives never used.\n# TYPE safeconsole_device_last_seen_timestamp_seconds gauge\n"
)

// WriteDeviceText writes the per-drive families in the text format. It
// buffers at most a chunk of them: the exposition is never held whole.
func (s *Scrape) WriteDeviceText(w io.Writer) error {
	if !s.hasDeviceText() {
		return nil
	}
	f := s.snap.fleet
	tw := textWriter{w: w, buf: make([]byte, 0, textChunk+4096)}
	owner := s.opts.OwnerEmail

	// A drive's labels other than serial, status and owner are its group's
	// (OU, country, version): each group's part of the line is escaped
	// once, on first use.
	type groupText struct{ prefix, suffix []byte }
	groups := make([]groupText, len(f.deviceGroups))
	var statusKey string
	var statusText []byte

	tw.str(infoHelp)
	for i := range f.devices {
		d := &f.devices[i]
		g := &groups[d.group]
		if g.prefix == nil {
			dg := &f.deviceGroups[d.group]
			g.prefix = appendLabelValue([]byte(`safeconsole_device_info{country=`), dg.country)
			g.prefix = append(appendLabelValue(append(g.prefix, `,ou=`...), dg.ou), ',')
			g.suffix = append(appendLabelValue([]byte(`,version=`), dg.version), "} 1\n"...)
		}
		if statusText == nil || statusKey != d.status {
			statusKey, statusText = d.status, appendLabelValue([]byte(`,status=`), d.status)
		}
		tw.raw(g.prefix)
		if owner {
			tw.str(`owner=`)
			tw.quote(d.owner, false)
			tw.str(`,`)
		}
		tw.str(`serial=`)
		tw.quote(d.serial, d.plainSerial)
		tw.raw(statusText)
		tw.raw(g.suffix)
		if err := tw.flushIfFull(); err != nil {
			return err
		}
	}
	for _, fam := range []struct {
		help, prefix string
		value        func(*deviceRecord) bool
	}{
		{onlineHelp, `safeconsole_device_online{serial=`, func(d *deviceRecord) bool { return d.online }},
		{outdatedHelp, `safeconsole_device_firmware_outdated{serial=`, func(d *deviceRecord) bool { return d.outdated }},
	} {
		tw.str(fam.help)
		for i := range f.devices {
			d := &f.devices[i]
			tw.str(fam.prefix)
			tw.quote(d.serial, d.plainSerial)
			if fam.value(d) {
				tw.str("} 1\n")
			} else {
				tw.str("} 0\n")
			}
			if err := tw.flushIfFull(); err != nil {
				return err
			}
		}
	}
	tw.str(lastSeenHelp)
	for i := range f.devices {
		d := &f.devices[i]
		if !d.used {
			continue
		}
		tw.str(`safeconsole_device_last_seen_timestamp_seconds{serial=`)
		tw.quote(d.serial, d.plainSerial)
		tw.str("} ")
		tw.buf = appendIntAsFloat(tw.buf, d.lastUsed)
		tw.str("\n")
		if err := tw.flushIfFull(); err != nil {
			return err
		}
	}
	return tw.flush()
}

type textWriter struct {
	w   io.Writer
	buf []byte
}

func (t *textWriter) str(s string) { t.buf = append(t.buf, s...) }
func (t *textWriter) raw(b []byte) { t.buf = append(t.buf, b...) }

// quote writes a label value; plain says it needs no escaping.
func (t *textWriter) quote(v string, plain bool) {
	if plain {
		t.buf = append(append(append(t.buf, '"'), v...), '"')
		return
	}
	t.buf = appendLabelValue(t.buf, v)
}

func (t *textWriter) flushIfFull() error {
	if len(t.buf) < textChunk {
		return nil
	}
	return t.flush()
}

func (t *textWriter) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.w.Write(t.buf)
	t.buf = t.buf[:0]
	return err
}

// appendIntAsFloat appends float64(v) as expfmt writes it, strconv's
// shortest 'g' format ("1.7e+09", "123456"), without the float detour for
// the integers a timestamp holds; beyond 2^53, where float64(v) rounds, it
// leaves the job to strconv.
func appendIntAsFloat(b []byte, v int64) []byte {
	const exact = 1 << 53
	if v < -exact || v > exact {
		return strconv.AppendFloat(b, float64(v), 'g', -1, 64)
	}
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], v, 10)
	exp := len(d) - 1
	if exp < 6 { // the shortest 'g' form switches to an exponent at 1e6
		return append(b, d...)
	}
	for len(d) > 1 && d[len(d)-1] == '0' {
		d = d[:len(d)-1]
	}
	b = append(b, d[0])
	if len(d) > 1 {
		b = append(append(b, '.'), d[1:]...)
	}
	b = append(b, 'e', '+')
	if exp < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(exp), 10)
}

// plainLabelValue reports whether v can go between quotes as it is: no
// backslash, quote or line feed, and ASCII (so valid UTF-8).
func plainLabelValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\\' || c == '"' || c == '\n' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendLabelValue appends v quoted and escaped as the text format wants
// (backslash, double quote and line feed escaped). Invalid UTF-8, which
// the registry would refuse, is replaced by U+FFFD; the client's decoder
// already makes every string valid, so this is only a guard.
func appendLabelValue(b []byte, v string) []byte {
	b = append(b, '"')
	if plainLabelValue(v) {
		b = append(b, v...)
		return append(b, '"')
	}
	for _, r := range v { // invalid bytes come as utf8.RuneError
		switch r {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
