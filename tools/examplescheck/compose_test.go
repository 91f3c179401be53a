package examplescheck

import (
	"context"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile    = "examples/docker-compose.yml"
	prometheusFile = "examples/prometheus.yml"
	dashboardFile  = "dashboards/safeconsole-fleet.json"
	exporterName   = "safeconsole-exporter"
)

// loadCompose loads the example stack the way `docker compose` does
// (interpolation, normalisation, consistency checks, paths resolved against
// the file's directory), with an empty environment so that nothing on the
// machine running the test changes the result.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{repoPath(composeFile)},
		cli.WithEnv(nil),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("%s: no service %q", composeFile, name)
	}
	return s
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	var names []string
	for name := range p.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"alertmanager", "grafana", "prometheus", exporterName}; !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}

	for name, s := range p.Services {
		if name == exporterName {
			continue
		}
		// Third-party images pinned by a version tag, as the Dockerfile's bases.
		_, tag, ok := strings.Cut(path.Base(s.Image), ":")
		if !ok || tag == "latest" || !strings.ContainsAny(tag, "0123456789") {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
		if s.Build != nil {
			t.Errorf("service %s: unexpected build section", name)
		}
	}

	// On a workstation nothing of the stack should listen beyond loopback.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if ip := net.ParseIP(port.HostIP); ip == nil || !ip.IsLoopback() {
				t.Errorf("service %s: port %d published on %q, not on loopback", name, port.Target, port.HostIP)
			}
		}
	}
}

func TestComposeExporter(t *testing.T) {
	s := service(t, loadCompose(t), exporterName)
	if s.Build == nil {
		t.Fatal("the exporter is not built from the repository")
	}
	if _, err := os.Stat(filepath.Join(s.Build.Context, "Dockerfile")); err != nil {
		t.Errorf("build context %s: %v", s.Build.Context, err)
	}
	if abs, _ := filepath.Abs(repoRoot); filepath.Clean(s.Build.Context) != abs {
		t.Errorf("build context %s is not the repository root %s", s.Build.Context, abs)
	}
	// Demo mode out of the box: no server, no token.
	if !slices.Contains(s.Command, "--demo") {
		t.Errorf("command %q does not run in demo mode", s.Command)
	}
	// The token can only come from the environment of `docker compose up`,
	// never from the file itself.
	for k, v := range s.Environment {
		if strings.Contains(strings.ToUpper(k), "TOKEN") && v != nil && *v != "" {
			t.Errorf("environment %s has a value in the compose file", k)
		}
	}
	if !exposes(s, 10150) {
		t.Error("the exporter does not publish port 10150")
	}
}

func exposes(s types.ServiceConfig, port uint32) bool {
	return slices.ContainsFunc(s.Ports, func(p types.ServicePortConfig) bool { return p.Target == port })
}

// Docker creates a missing bind mount source as an empty directory, so a
// typo or a moved file would start the stack with no rules or no dashboard.
func TestComposeMountsExist(t *testing.T) {
	p := loadCompose(t)
	n := 0
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			n++
			fi, err := os.Stat(v.Source)
			if err != nil {
				t.Errorf("service %s: mount %s: %v", name, v.Target, err)
				continue
			}
			// A target named like a file must get a file.
			if ext := path.Ext(v.Target); ext != "" && fi.IsDir() {
				t.Errorf("service %s: %s is mounted from directory %s", name, v.Target, v.Source)
			}
			if !v.ReadOnly {
				t.Errorf("service %s: %s is mounted writable", name, v.Target)
			}
		}
	}
	if n == 0 {
		t.Fatal("no bind mounts found")
	}
}

// hostPath maps a path inside a service's container to the file it is bind
// mounted from, by the mount with the longest matching target.
func hostPath(s types.ServiceConfig, p string) (string, bool) {
	best, src := "", ""
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if (p == v.Target || strings.HasPrefix(p, v.Target+"/")) && len(v.Target) > len(best) {
			best, src = v.Target, filepath.Join(v.Source, filepath.FromSlash(strings.TrimPrefix(p, v.Target)))
		}
	}
	return src, best != ""
}

func flagValue(cmd []string, name string) string {
	for _, a := range cmd {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// prometheus.yml as the Prometheus container sees it: the file is the one
// mounted, its rule files resolve to the repository's alerts in the container
// as on the host (where promtool checks them), and its targets are services of
// the stack.
func TestComposePrometheus(t *testing.T) {
	p := loadCompose(t)
	prom := service(t, p, "prometheus")

	cfgPath := flagValue(prom.Command, "--config.file")
	if cfgPath == "" {
		t.Fatalf("prometheus command %q has no --config.file", prom.Command)
	}
	src, ok := hostPath(prom, cfgPath)
	if !ok || !sameFile(t, src, repoPath(prometheusFile)) {
		t.Fatalf("--config.file=%s is not %s mounted into the container", cfgPath, prometheusFile)
	}
	cfg := decodeRepoYAML(t, prometheusFile)

	ruleFiles := digList(cfg, "rule_files")
	if len(ruleFiles) == 0 {
		t.Error("prometheus.yml loads no rule files")
	}
	rulesLoaded := false
	for _, rf := range ruleFiles {
		pattern, _ := rf.(string)
		inContainer := path.Join(path.Dir(cfgPath), pattern)
		hostPattern, ok := hostPath(prom, inContainer)
		if !ok {
			t.Errorf("rule_files %s: %s is not mounted into the container", pattern, inContainer)
			continue
		}
		inside, _ := filepath.Glob(hostPattern)
		outside, _ := filepath.Glob(filepath.Join(filepath.Dir(repoPath(prometheusFile)), filepath.FromSlash(pattern)))
		if len(inside) == 0 || len(inside) != len(outside) {
			t.Errorf("rule_files %s: %d files in the container, %d beside prometheus.yml", pattern, len(inside), len(outside))
		}
		for _, f := range inside {
			rulesLoaded = rulesLoaded || sameFile(t, f, repoPath(RulesFile))
		}
	}
	if !rulesLoaded {
		t.Errorf("the container does not load %s", RulesFile)
	}

	// Every target is host:port of a service of the stack, and the exporter is
	// scraped with a timeout that leaves a large fleet time to page through.
	scrapesExporter := false
	for _, sc := range digList(cfg, "scrape_configs") {
		for _, st := range digList(sc, "static_configs") {
			for _, target := range digList(st, "targets") {
				host, port := splitTarget(t, target)
				if host == "localhost" {
					continue // Prometheus itself
				}
				service(t, p, host)
				if host == exporterName {
					scrapesExporter = true
					if port != 10150 {
						t.Errorf("exporter scraped on port %d", port)
					}
					if digString(sc, "scrape_timeout") == "" {
						t.Error("the exporter's job sets no scrape_timeout (the default 10s is short for a large fleet)")
					}
				}
			}
		}
	}
	if !scrapesExporter {
		t.Error("prometheus.yml does not scrape the exporter")
	}

	alertmanagers := 0
	for _, am := range digList(cfg, "alerting", "alertmanagers") {
		for _, st := range digList(am, "static_configs") {
			for _, target := range digList(st, "targets") {
				host, port := splitTarget(t, target)
				if host != "alertmanager" || port != 9093 {
					t.Errorf("alertmanager target %v is not the stack's alertmanager:9093", target)
				}
				service(t, p, host)
				alertmanagers++
			}
		}
	}
	if alertmanagers == 0 {
		t.Error("prometheus.yml sends alerts nowhere")
	}
}

func splitTarget(t *testing.T, target any) (string, int) {
	t.Helper()
	s, _ := target.(string)
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("target %v: %v", target, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("target %v: %v", target, err)
	}
	return host, port
}

func TestComposeAlertmanager(t *testing.T) {
	am := service(t, loadCompose(t), "alertmanager")
	// The image's default --config.file.
	src, ok := hostPath(am, "/etc/alertmanager/alertmanager.yml")
	if !ok || !sameFile(t, src, repoPath("examples/alertmanager.yml")) {
		t.Errorf("examples/alertmanager.yml is not mounted as /etc/alertmanager/alertmanager.yml")
	}
}

// Grafana provisions the repository's dashboard from where it is mounted,
// and its data sources point at services of the stack.
func TestComposeGrafana(t *testing.T) {
	p := loadCompose(t)
	g := service(t, p, "grafana")

	provisioning, ok := hostPath(g, "/etc/grafana/provisioning")
	if !ok {
		t.Fatal("no provisioning directory mounted at /etc/grafana/provisioning")
	}
	providers := 0
	dashboardProvisioned := false
	files, _ := filepath.Glob(filepath.Join(provisioning, "dashboards", "*.yml"))
	for _, f := range files {
		docs, err := decodeAll(mustRead(t, f))
		if err != nil || len(docs) != 1 {
			t.Fatalf("%s: %v", f, err)
		}
		for _, pr := range digList(docs[0], "providers") {
			providers++
			dir := digString(pr, "options", "path")
			src, ok := hostPath(g, path.Join(dir, path.Base(dashboardFile)))
			dashboardProvisioned = dashboardProvisioned || ok && sameFile(t, src, repoPath(dashboardFile))
		}
	}
	if providers == 0 {
		t.Error("no dashboard provider")
	}
	if !dashboardProvisioned {
		t.Errorf("no dashboard provider reads %s", dashboardFile)
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != nil {
		if src, ok := hostPath(g, *home); !ok || !sameFile(t, src, repoPath(dashboardFile)) {
			t.Errorf("home dashboard %s is not %s", *home, dashboardFile)
		}
	}

	datasources := 0
	files, _ = filepath.Glob(filepath.Join(provisioning, "datasources", "*.yml"))
	for _, f := range files {
		docs, err := decodeAll(mustRead(t, f))
		if err != nil || len(docs) != 1 {
			t.Fatalf("%s: %v", f, err)
		}
		for _, ds := range digList(docs[0], "datasources") {
			datasources++
			u := digString(ds, "url")
			host, _, _ := strings.Cut(strings.TrimPrefix(u, "http://"), ":")
			service(t, p, host)
		}
	}
	if datasources == 0 {
		t.Error("no data source provisioned")
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
