// Package dashboardcheck checks the Grafana dashboards in dashboards/ and the
// alerting rules in alerts/: their structure, that every query parses as
// PromQL, that every metric they name is one the exporter really exposes (a
// live scrape of the exporter's demo mode), and that the promtool unit tests
// in alerts/tests cover every alert and every dashboard query.
//
// The checks are the package's tests: cd tools && go test ./dashboardcheck/
package dashboardcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Dashboard is the part of a Grafana dashboard JSON model the checks read.
type Dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	Description   string `json:"description"`
	Editable      bool   `json:"editable"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name        string          `json:"name"`
	Label       string          `json:"label"`
	Type        string          `json:"type"`
	Datasource  *Datasource     `json:"datasource"`
	Query       json.RawMessage `json:"query"`
	Definition  string          `json:"definition"`
	Multi       bool            `json:"multi"`
	IncludeAll  bool            `json:"includeAll"`
	AllValue    string          `json:"allValue"`
	Refresh     int             `json:"refresh"`
	Description string          `json:"description"`
}

// QueryString returns the variable's query: a plain string, or the "query"
// member of the object form newer Grafana versions write.
func (v Variable) QueryString() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &obj); err != nil {
		return "", fmt.Errorf("variable %s: query is neither a string nor an object: %w", v.Name, err)
	}
	return obj.Query, nil
}

// Datasource is a panel's, target's or variable's data source reference.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a dashboard panel; rows hold their panels when collapsed.
type Panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Datasource  *Datasource `json:"datasource"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Targets []Target `json:"targets"`
	Panels  []Panel  `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *Datasource `json:"datasource"`
	Format     string      `json:"format"`
	Instant    bool        `json:"instant"`
}

// LoadDashboard reads a dashboard JSON model. Unknown members are allowed:
// the model has many the checks do not look at.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading dashboard: %w", err)
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parsing dashboard %s: %w", path, err)
	}
	return &d, nil
}

// AllPanels returns every panel, including those nested in collapsed rows.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// PanelTarget is a target together with the panel it belongs to.
type PanelTarget struct {
	Panel  Panel
	Target Target
}

// Name identifies the target in messages.
func (pt PanelTarget) Name() string {
	return fmt.Sprintf("panel %d %q, target %s", pt.Panel.ID, pt.Panel.Title, pt.Target.RefID)
}

// Targets returns every target of every panel.
func (d *Dashboard) Targets() []PanelTarget {
	var out []PanelTarget
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, PanelTarget{Panel: p, Target: t})
		}
	}
	return out
}

// Grafana's variable syntaxes: ${name}, ${name:format}, [[name]], [[name:format]], $name.
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)`)

// Expand replaces Grafana variable references in expr with values, the way
// Grafana interpolates a query before sending it. A reference to a variable
// values does not hold is an error, so a typo in a query cannot pass unseen.
func Expand(expr string, values map[string]string) (string, error) {
	var missing []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		v, ok := values[name]
		if !ok {
			missing = append(missing, ref)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown variables %s in %q", strings.Join(missing, ", "), expr)
	}
	return out, nil
}

// ConcreteValues are the variable values the promtool test of the dashboard
// queries (alerts/tests/dashboard_queries_test.yml) uses: one job, every
// instance, OU and country, and fixed intervals.
var ConcreteValues = map[string]string{
	"job":             "safeconsole",
	"instance":        ".+",
	"ou":              ".+",
	"country":         ".+",
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
}

// Sentinel values keep the template variables recognisable after parsing:
// label variables stay literally "$job" etc. inside their quoted matcher
// values, and each interval variable becomes a duration no query would write
// by hand.
const (
	SentinelRateInterval = "1234s"
	SentinelInterval     = "1235s"
	SentinelRange        = "1236s"
)

// SentinelValues are the values for structural checks; see the constants.
var SentinelValues = map[string]string{
	"job":             "$job",
	"instance":        "$instance",
	"ou":              "$ou",
	"country":         "$country",
	"__rate_interval": SentinelRateInterval,
	"__interval":      SentinelInterval,
	"__range":         SentinelRange,
}

// promql parses with the stable PromQL functions only: a dashboard must not
// depend on a Prometheus started with experimental features.
var promql = parser.NewParser(parser.Options{})

// ParseQuery expands the variables in expr and parses the result as PromQL.
func ParseQuery(expr string, values map[string]string) (parser.Expr, error) {
	expanded, err := Expand(expr, values)
	if err != nil {
		return nil, err
	}
	e, err := promql.ParseExpr(expanded)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", expanded, err)
	}
	return e, nil
}

// Normalize returns PromQL in the parser's canonical form, so that two
// queries that differ only in spacing or redundant parentheses compare equal.
func Normalize(expr string) (string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("parsing %q: %w", expr, err)
	}
	return e.String(), nil
}

// VectorSelectors returns every vector selector in e.
func VectorSelectors(e parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// MetricName returns the metric name a selector selects, or an error for a
// selector without a fixed name (a dashboard query should always name one).
func MetricName(vs *parser.VectorSelector) (string, error) {
	if vs.Name != "" {
		return vs.Name, nil
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value, nil
		}
	}
	return "", fmt.Errorf("selector %s names no metric", vs)
}

// labelValuesQuery matches Grafana's label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\((.*),\s*(\w+)\s*\)\s*$`)

// ParseLabelValues splits a label_values(selector, label) variable query
// into the parsed selector and the label.
func ParseLabelValues(query string, values map[string]string) (*parser.VectorSelector, string, error) {
	m := labelValuesQuery.FindStringSubmatch(query)
	if m == nil {
		return nil, "", fmt.Errorf("variable query %q is not label_values(selector, label)", query)
	}
	e, err := ParseQuery(m[1], values)
	if err != nil {
		return nil, "", err
	}
	vs, ok := e.(*parser.VectorSelector)
	if !ok {
		return nil, "", fmt.Errorf("variable query %q: %s is not a plain selector", query, m[1])
	}
	return vs, m[2], nil
}

// Family is one metric family of an exposition.
type Family struct {
	Type   string              // counter, gauge, histogram, ... lower case
	Labels map[string]bool     // label names its series carry (le excluded)
	LE     map[string]struct{} // le values exactly as written, for histograms
}

// FamilyOf resolves a series name to its family: histogram and summary
// series (_bucket, _sum, _count) belong to the family without the suffix.
func FamilyOf(name string, families map[string]*Family) (string, *Family, bool) {
	if f, ok := families[name]; ok {
		return name, f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if !found {
			continue
		}
		f, ok := families[base]
		if !ok {
			continue
		}
		if f.Type == "histogram" || (f.Type == "summary" && suffix != "_bucket") {
			return base, f, true
		}
	}
	return "", nil, false
}

// SortedKeys returns the keys of a set in order, for stable messages.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ErrNoMetrics is returned for an exposition without any metric family.
var ErrNoMetrics = errors.New("the exposition holds no metric families")
