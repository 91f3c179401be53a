package dashboardcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Panel types Grafana ships; a dashboard that needs a plugin install is not
// importable as is.
var corePanelTypes = []string{"row", "stat", "timeseries", "table", "geomap", "barchart", "gauge", "bargauge", "text", "piechart", "heatmap", "histogram", "state-timeline", "status-history"}

// Units Grafana knows (a subset of its unit list, as checked by grafana's
// dashboard-linter); a typo would silently render raw numbers.
var validUnits = []string{
	"none", "short", "percent", "percentunit", "s", "ms", "m", "h", "d", "dtdurations", "dtdurationms",
	"dateTimeAsIso", "dateTimeAsLocal", "dateTimeFromNow", "reqps", "ops", "bytes", "decbytes", "bool",
}

// prometheusRef is the only data source reference the dashboard may hold:
// the datasource variable, so that importing needs no data source uid.
var prometheusRef = Datasource{Type: "prometheus", UID: "${datasource}"}

func TestDashboardModel(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "safeconsole-fleet" {
		t.Errorf("uid = %q, want the stable safeconsole-fleet (links and provisioning rely on it)", d.UID)
	}
	if d.Title == "" || d.Description == "" {
		t.Errorf("title %q and description %q must both be set", d.Title, d.Description)
	}
	// Grafana 10.0 writes schema 38, 11.x writes 39 to 41.
	if d.SchemaVersion < 38 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion = %d, want a Grafana 10/11 model (38..41)", d.SchemaVersion)
	}
	if d.Editable {
		t.Error("editable is true; a provisioned dashboard should be changed in the JSON file")
	}
	var raw map[string]any
	b, err := os.ReadFile(filepath.Join(repoRoot(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if id, ok := raw["id"]; ok && id != nil {
		t.Errorf("id = %v; an exported id collides on import, it must be null", id)
	}
}

func TestDashboardVariables(t *testing.T) {
	d := loadDashboard(t)
	vars := map[string]Variable{}
	var names []string
	for _, v := range d.Templating.List {
		vars[v.Name] = v
		names = append(names, v.Name)
	}
	if want := []string{"datasource", "job", "instance", "ou", "country"}; !slices.Equal(names, want) {
		t.Fatalf("variables = %v, want %v in this order (each filters the next)", names, want)
	}

	ds := vars["datasource"]
	var dsQuery string
	if err := json.Unmarshal(ds.Query, &dsQuery); err != nil || ds.Type != "datasource" || dsQuery != "prometheus" {
		t.Errorf("datasource variable: type %q query %s, want type datasource, query \"prometheus\"", ds.Type, ds.Query)
	}

	// Each label variable's query must be filtered by the variables before it.
	filters := map[string][]string{
		"job":      nil,
		"instance": {"job"},
		"ou":       {"job", "instance"},
		"country":  {"job", "instance", "ou"},
	}
	labelsOf := map[string]string{"job": "Job", "instance": "Instance", "ou": "OU", "country": "Country"}
	for _, name := range []string{"job", "instance", "ou", "country"} {
		v := vars[name]
		if v.Type != "query" {
			t.Errorf("%s: type %q, want query", name, v.Type)
		}
		if v.Datasource == nil || *v.Datasource != prometheusRef {
			t.Errorf("%s: datasource %+v, want %+v", name, v.Datasource, prometheusRef)
		}
		if !v.Multi || !v.IncludeAll || v.AllValue != ".+" {
			t.Errorf("%s: multi=%v includeAll=%v allValue=%q, want multi, includeAll and allValue \".+\"", name, v.Multi, v.IncludeAll, v.AllValue)
		}
		if v.Refresh != 2 {
			t.Errorf("%s: refresh = %d, want 2 (on time range change)", name, v.Refresh)
		}
		if v.Label != labelsOf[name] || v.Description == "" {
			t.Errorf("%s: label %q description %q, want label %q and a description", name, v.Label, v.Description, labelsOf[name])
		}
		q, err := v.QueryString()
		if err != nil {
			t.Error(err)
			continue
		}
		vs, label, err := ParseLabelValues(q, SentinelValues)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if label != name {
			t.Errorf("%s: query %q lists the values of %q", name, q, label)
		}
		for _, f := range filters[name] {
			if !hasMatcher(vs, f, labels.MatchRegexp, "$"+f) {
				t.Errorf("%s: query %q is not filtered by %s=~\"$%s\"", name, q, f, f)
			}
		}
	}
}

func TestPanels(t *testing.T) {
	d := loadDashboard(t)
	panels := d.AllPanels()
	if len(panels) < 10 {
		t.Fatalf("only %d panels", len(panels))
	}
	ids := map[int]string{}
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup || p.ID <= 0 {
			t.Errorf("panel %q: id %d is not unique and positive (also used by %q)", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %d %q: gridPos %+v outside the 24 column grid", p.ID, p.Title, g)
		}
		if !slices.Contains(corePanelTypes, p.Type) {
			t.Errorf("panel %d %q: type %q is not a panel Grafana ships", p.ID, p.Title, p.Type)
		}
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.Type == "row" {
			continue
		}
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("panel %d %q has no description", p.ID, p.Title)
		}
		if !slices.Contains(validUnits, p.FieldConfig.Defaults.Unit) {
			t.Errorf("panel %d %q: unit %q is missing or unknown", p.ID, p.Title, p.FieldConfig.Defaults.Unit)
		}
		for _, o := range p.FieldConfig.Overrides {
			for _, prop := range o.Properties {
				if u, ok := prop.Value.(string); prop.ID == "unit" && (!ok || !slices.Contains(validUnits, u)) {
					t.Errorf("panel %d %q: override unit %v is unknown", p.ID, p.Title, prop.Value)
				}
			}
		}
		if p.Datasource == nil || *p.Datasource != prometheusRef {
			t.Errorf("panel %d %q: datasource %+v, want %+v", p.ID, p.Title, p.Datasource, prometheusRef)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no queries", p.ID, p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %d %q: refId %q empty or repeated", p.ID, p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || *tg.Datasource != prometheusRef {
				t.Errorf("panel %d %q target %s: datasource %+v, want %+v", p.ID, p.Title, tg.RefID, tg.Datasource, prometheusRef)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %d %q target %s: empty query", p.ID, p.Title, tg.RefID)
			}
			// Tables, maps and bar charts show one value per series: a range
			// query would give them a row per sample.
			switch p.Type {
			case "table", "geomap", "barchart":
				if !tg.Instant || tg.Format != "table" {
					t.Errorf("panel %d %q target %s: want an instant query in table format", p.ID, p.Title, tg.RefID)
				}
			case "bargauge":
				if !tg.Instant {
					t.Errorf("panel %d %q target %s: want an instant query", p.ID, p.Title, tg.RefID)
				}
			}
		}
	}
	// No two panels may cover the same grid cell.
	for i, a := range panels {
		for _, b := range panels[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				t.Errorf("panels %d %q and %d %q overlap", a.ID, a.Title, b.ID, b.Title)
			}
		}
	}
}

// TestNoHardcodedDatasource walks the whole JSON model, so that a data
// source reference anywhere (an annotation, a nested row, a transformation)
// is found, not only where the typed model looks.
func TestNoHardcodedDatasource(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	found := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if k == "datasource" {
					found++
					ref, ok := child.(map[string]any)
					if !ok || ref["type"] != "prometheus" || ref["uid"] != "${datasource}" || len(ref) != 2 {
						t.Errorf("%s.datasource = %v, want {\"type\":\"prometheus\",\"uid\":\"${datasource}\"}", path, child)
					}
				}
				walk(path+"."+k, child)
			}
		case []any:
			for i, child := range v {
				walk(path+"["+strconv.Itoa(i)+"]", child)
			}
		}
	}
	walk("$", raw)
	if found == 0 {
		t.Fatal("no datasource references found; the walk is broken")
	}
}

// TestTargetsFilteredAndIntervals checks every query selects only the
// chosen jobs and instances, and that every range is $__rate_interval inside
// rate, irate or increase: at least four scrapes whatever the zoom.
func TestTargetsFilteredAndIntervals(t *testing.T) {
	rateInterval, _ := time.ParseDuration(SentinelRateInterval)
	for _, pt := range loadDashboard(t).Targets() {
		e, err := ParseQuery(pt.Target.Expr, SentinelValues)
		if err != nil {
			t.Errorf("%s: %v", pt.Name(), err)
			continue
		}
		for _, vs := range VectorSelectors(e) {
			for _, f := range []string{"job", "instance"} {
				if !hasMatcher(vs, f, labels.MatchRegexp, "$"+f) {
					t.Errorf("%s: selector %s lacks %s=~\"$%s\"", pt.Name(), vs, f, f)
				}
			}
		}
		parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
			switch n := n.(type) {
			case *parser.MatrixSelector:
				fn := ""
				if len(path) > 0 {
					if call, ok := path[len(path)-1].(*parser.Call); ok {
						fn = call.Func.Name
					}
				}
				if !slices.Contains([]string{"rate", "irate", "increase"}, fn) || n.Range != rateInterval {
					t.Errorf("%s: range %s in %s(): want $__rate_interval inside rate, irate or increase", pt.Name(), n, fn)
				}
			case *parser.VectorSelector:
				name, _ := MetricName(n)
				if !strings.HasSuffix(name, "_total") {
					return nil
				}
				// A counter only makes sense through rate, irate or increase.
				ok := len(path) >= 2
				if ok {
					_, isMatrix := path[len(path)-1].(*parser.MatrixSelector)
					call, isCall := path[len(path)-2].(*parser.Call)
					ok = isMatrix && isCall && slices.Contains([]string{"rate", "irate", "increase"}, call.Func.Name)
				}
				if !ok {
					t.Errorf("%s: counter %s is not inside rate, irate or increase", pt.Name(), n)
				}
			}
			return nil
		})
	}
}

func TestEveryQueryParsesWithConcreteValues(t *testing.T) {
	d := loadDashboard(t)
	for _, pt := range d.Targets() {
		if _, err := ParseQuery(pt.Target.Expr, ConcreteValues); err != nil {
			t.Errorf("%s: %v", pt.Name(), err)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := v.QueryString()
		if err != nil {
			t.Error(err)
			continue
		}
		if _, _, err := ParseLabelValues(q, ConcreteValues); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
	}
}

func hasMatcher(vs *parser.VectorSelector, name string, typ labels.MatchType, value string) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name == name && m.Type == typ && m.Value == value {
			return true
		}
	}
	return false
}
