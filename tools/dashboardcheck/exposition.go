package dashboardcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// bucketLine captures a histogram bucket's family name and its le value as
// written. The parsed exposition only has le as a float, but a PromQL matcher
// such as le="2.592e+06" compares the string Prometheus stores, which is the
// string the exporter writes.
var bucketLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\{.*\ble="([^"]*)"`)

// ParseExposition reads a Prometheus text exposition into its families.
func ParseExposition(body []byte) (map[string]*Family, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing the exposition: %w", err)
	}
	if len(mfs) == 0 {
		return nil, ErrNoMetrics
	}
	families := make(map[string]*Family, len(mfs))
	for name, mf := range mfs {
		f := &Family{
			Type:   strings.ToLower(mf.GetType().String()),
			Labels: map[string]bool{},
			LE:     map[string]struct{}{},
		}
		if mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
			f.Type = "histogram"
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				f.Labels[lp.GetName()] = true
			}
		}
		families[name] = f
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		m := bucketLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if f, ok := families[m[1]]; ok && f.Type == "histogram" {
			f.LE[m[2]] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scanning the exposition: %w", err)
	}
	return families, nil
}
