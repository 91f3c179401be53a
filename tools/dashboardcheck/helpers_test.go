package dashboardcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	modulePath    = "github.com/safeconsole-exporter/safeconsole_exporter"
	dashboardFile = "dashboards/safeconsole-fleet.json"
	rulesFile     = "alerts/safeconsole.rules.yml"
	ruleTestsGlob = "alerts/tests/*.yml"
	queryTestFile = "alerts/tests/dashboard_queries_test.yml"
	runbookFile   = "docs/runbook.md"
	runbookURL    = "https://github.com/safeconsole-exporter/safeconsole_exporter/blob/main/docs/runbook.md"
)

// repoRoot is the repository's top directory: the tests run in
// tools/dashboardcheck, and the root's go.mod names the exporter's module.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("resolving the repository root: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("reading the repository's go.mod: %v", err)
	}
	if !strings.Contains(string(b), "module "+modulePath+"\n") {
		t.Fatalf("%s/go.mod is not the module %s", root, modulePath)
	}
	return root
}

func loadDashboard(t testing.TB) *Dashboard {
	t.Helper()
	d, err := LoadDashboard(filepath.Join(repoRoot(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Rule is one rule of a Prometheus rules file.
type Rule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

func loadRules(t testing.TB) []Rule {
	t.Helper()
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []Rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join(repoRoot(t), rulesFile), &f)
	var rules []Rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s holds no rules", rulesFile)
	}
	return rules
}

// UnitTestFile is the part of a promtool rule test file the checks read.
type UnitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr       string `yaml:"expr"`
			EvalTime   string `yaml:"eval_time"`
			ExpSamples []struct {
				Labels string `yaml:"labels"`
			} `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

func loadUnitTests(t testing.TB) map[string]UnitTestFile {
	t.Helper()
	root := repoRoot(t)
	paths, err := filepath.Glob(filepath.Join(root, ruleTestsGlob))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no promtool test files match %s", ruleTestsGlob)
	}
	files := map[string]UnitTestFile{}
	for _, p := range paths {
		var f UnitTestFile
		readYAML(t, p, &f)
		rel, _ := filepath.Rel(root, p)
		files[rel] = f
	}
	return files
}

func readYAML(t testing.TB, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
}

// The exporter is built and scraped once per test binary; TestMain stops it.
var (
	liveOnce     sync.Once
	liveFamilies map[string]*Family
	liveErr      error
	liveStop     func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if liveStop != nil {
		liveStop()
	}
	os.Exit(code)
}

// liveMetrics returns the metric families of a live scrape of the exporter
// in demo mode: built from the repository root with go build and started on
// a free loopback port, as an administrator would run it.
func liveMetrics(t testing.TB) map[string]*Family {
	t.Helper()
	root := repoRoot(t)
	liveOnce.Do(func() {
		liveFamilies, liveErr = scrapeDemoExporter(root)
	})
	if liveErr != nil {
		t.Fatalf("live scrape of the exporter in demo mode: %v", liveErr)
	}
	return liveFamilies
}

func scrapeDemoExporter(root string) (map[string]*Family, error) {
	dir, err := os.MkdirTemp("", "dashboardcheck-")
	if err != nil {
		return nil, fmt.Errorf("creating a build directory: %w", err)
	}
	bin := filepath.Join(dir, "safeconsole_exporter")
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("finding the go command: %w", err)
	}
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build of the exporter in %s: %w\n%s", root, err, out)
	}

	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	var logs strings.Builder
	cmd := exec.Command(bin, "--demo", "--web.listen-address="+addr)
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the exporter: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	liveStop = func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = os.RemoveAll(dir)
	}

	// Wait until the exporter listens and has read its simulated fleet
	// completely; the bound only keeps a broken exporter from hanging the run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := "http://" + addr + "/metrics"
	var lastErr error
	for {
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("the exporter exited (%v) before answering; its output:\n%s", err, logs.String())
		case <-ctx.Done():
			return nil, fmt.Errorf("no complete scrape from %s (last error: %v); exporter output:\n%s", url, lastErr, logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		body, err := get(ctx, url)
		if err != nil {
			lastErr = err
			continue
		}
		if !scrapeComplete(body) {
			lastErr = errors.New("safeconsole_up is not 1")
			continue
		}
		return ParseExposition(body)
	}
}

var upLine = regexp.MustCompile(`(?m)^safeconsole_up(\{[^}]*\})? 1$`)

func scrapeComplete(body []byte) bool { return upLine.Match(body) }

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// The plain text format, whose bucket lines show le as written.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("releasing port %s: %w", addr, err)
	}
	return addr, nil
}

// runbookAnchors returns the GitHub anchors of the runbook's headings.
func runbookAnchors(t testing.TB) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), runbookFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[githubAnchor(heading)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors
}

// githubAnchor is GitHub's anchor for a Markdown heading: lower case,
// punctuation dropped, spaces as hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
