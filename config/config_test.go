package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFiles creates a directory with a token file and the given module
// file, and returns the module file's path.
func writeFiles(t *testing.T, moduleFile string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty-token"), []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "safeconsole.yml")
	if err := os.WriteFile(path, []byte(moduleFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodFile = `
modules:
  tenants:
    targets:
      - https://SC1.example.com/
      - https://sc2.example.com:8443
    target_pattern: '^https://[a-z0-9-]+\.safeconsole\.example\.net$'
    token_file: token
    page_size: 250
    concurrency: 2
    list_action: get_users
    paging: page
    sort_by: id
    sort_order: ASC
    keyword: search_all
    max_response_size: 1048576
    max_retries: 0
    timeout: 20s
    firmware_minimum_version: 6.10.1
    devices: false
    owner_email: true
    last_seen_buckets: [60, 3600]
    http_client_config:
      enable_http2: false
      proxy_url: http://proxy.example.com:3128
  lab:
    targets: [http://127.0.0.1:8080]
    allow_insecure_http: true
    token_file: token
`

func TestLoadGoodFile(t *testing.T) {
	path := writeFiles(t, goodFile)
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := strings.Join(cfg.ModuleNames(), ","); got != "lab,tenants" {
		t.Fatalf("modules = %s", got)
	}
	m, ok := cfg.Module("tenants")
	if !ok || m.Name() != "tenants" {
		t.Fatalf("module tenants not found")
	}
	if want := filepath.Join(filepath.Dir(path), "token"); m.TokenFile != want {
		t.Errorf("token_file resolved to %s, want %s (relative to the module file)", m.TokenFile, want)
	}
	if m.ProbeTimeout() != 20*time.Second {
		t.Errorf("timeout = %s", m.ProbeTimeout())
	}

	cc := m.ClientConfig("https://sc1.example.com")
	if cc.PageSize != 250 || cc.Concurrency != 2 || cc.Paging != "page" || cc.SortBy != "id" || cc.SortOrder != "ASC" ||
		cc.Keyword != "search_all" || cc.ListAction != "get_users" || cc.MaxResponseBytes != 1<<20 || !cc.WantOwner {
		t.Errorf("client config does not carry the module's settings: %+v", cc)
	}
	if cc.MaxRetries != -1 {
		t.Errorf("max_retries: 0 must reach the client as -1 (none), got %d", cc.MaxRetries)
	}
	if cc.TokenFile != m.TokenFile || cc.Token != "" {
		t.Errorf("the token must come from token_file only: %+v", cc)
	}
	if cc.HTTPClientConfig.EnableHTTP2 || cc.HTTPClientConfig.ProxyURL.URL == nil {
		t.Errorf("http_client_config not applied: %+v", cc.HTTPClientConfig)
	}
	co := m.CollectorOptions()
	if co.Devices || !co.OwnerEmail || co.FirmwareMinimum != "6.10.1" || len(co.LastSeenBuckets) != 2 {
		t.Errorf("collector options do not carry the module's settings: %+v", co)
	}

	lab, _ := cfg.Module("lab")
	if !lab.CollectorOptions().Devices {
		t.Error("devices must default to on")
	}
	if lab.ClientConfig("http://127.0.0.1:8080").MaxRetries != 0 {
		t.Error("an unset max_retries must leave the client's default")
	}
	if !lab.HTTPClientConfig.EnableHTTP2 {
		t.Error("a module without http_client_config must get prometheus/common's defaults")
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty file", ``, "no modules"},
		{"no modules", "modules: {}\n", "no modules"},
		{"unknown top-level key", "modulez: {}\n", "modulez"},
		{"null module", "modules:\n  a:\n", "empty"},
		{"bad module name", "modules:\n  'a b':\n    targets: [https://a.example.com]\n    token_file: token\n", "module name"},
		{"duplicate module", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n  a:\n    targets: [https://b.example.com]\n    token_file: token\n", "already set"},
		{"unknown module key", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    pagesize: 10\n", "pagesize"},
		{"unknown http_client_config key", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    http_client_config:\n      tls_confg: {}\n", "tls_confg"},
		{"no targets", "modules:\n  a:\n    token_file: token\n", "neither targets nor target_pattern"},
		{"no token file", "modules:\n  a:\n    targets: [https://a.example.com]\n", "token_file is required"},
		{"missing token file", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: nope\n", "token_file"},
		{"empty token file", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: empty-token\n", "is empty"},
		{"http target", "modules:\n  a:\n    targets: [http://a.example.com]\n    token_file: token\n", "allow_insecure_http"},
		{"target with query", "modules:\n  a:\n    targets: ['https://a.example.com/?x=1']\n    token_file: token\n", "query"},
		{"target with credentials", "modules:\n  a:\n    targets: ['https://u:p@a.example.com']\n    token_file: token\n", "credentials"},
		{"unanchored pattern", "modules:\n  a:\n    target_pattern: 'https://a\\.example\\.com'\n    token_file: token\n", "anchored"},
		{"escaped end", "modules:\n  a:\n    target_pattern: '^https://a\\.example\\.com\\$'\n    token_file: token\n", "anchored"},
		{"any host", "modules:\n  a:\n    target_pattern: '^https://.*$'\n    token_file: token\n", "matches any host"},
		{"any host with port", "modules:\n  a:\n    target_pattern: '^https://[^/]+:[0-9]+$'\n    token_file: token\n", "matches any host"},
		{"http pattern", "modules:\n  a:\n    target_pattern: '^http://a\\.example\\.com$'\n    token_file: token\n", "^https://"},
		{"pattern does not compile", "modules:\n  a:\n    target_pattern: '^https://(a$'\n    token_file: token\n", "does not compile"},
		{"authorization", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    http_client_config:\n      authorization:\n        credentials: x\n", "credentials"},
		{"bearer_token", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    http_client_config:\n      bearer_token: x\n", "credentials"},
		{"basic_auth", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    http_client_config:\n      basic_auth: {username: u, password: p}\n", "credentials"},
		{"authorization header", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    http_client_config:\n      http_headers:\n        Authorization: {values: [x]}\n", "Authorization"},
		{"missing CA file", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    http_client_config:\n      tls_config: {ca_file: missing-ca.pem}\n", "missing-ca.pem"},
		{"bad paging", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    paging: cursor\n", "paging"},
		{"bad page size", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    page_size: 1000000\n", "page size"},
		{"bad concurrency", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    concurrency: -1\n", "concurrency"},
		{"bad retries", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    max_retries: 99\n", "max_retries"},
		{"bad version", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    firmware_minimum_version: 6.x\n", "firmware_minimum_version"},
		{"bad buckets", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    last_seen_buckets: [10, 5]\n", "buckets"},
		{"bad timeout", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    timeout: soon\n", "soon"},
		{"tiny response size", "modules:\n  a:\n    targets: [https://a.example.com]\n    token_file: token\n    max_response_size: 10\n", "response size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFiles(t, tc.file))
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tc.file)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yml") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestAllow(t *testing.T) {
	cfg, err := Load(writeFiles(t, goodFile))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Module("tenants")
	lab, _ := cfg.Module("lab")
	for _, tc := range []struct {
		m      *Module
		target string
		want   string // canonical form; "" means refused
	}{
		{m, "https://sc1.example.com", "https://sc1.example.com"},
		{m, "https://SC1.Example.COM/", "https://sc1.example.com"},
		{m, "HTTPS://sc1.example.com", "https://sc1.example.com"},
		{m, "https://sc2.example.com:8443", "https://sc2.example.com:8443"},
		{m, "https://sc2.example.com", ""},       // other port
		{m, "https://sc2.example.com:08443", ""}, // non-canonical port
		{m, "https://sc1.example.com:443", ""},   // listed without a port
		{m, "http://sc1.example.com", ""},        // plain http not allowed
		{m, "https://tenant-1.safeconsole.example.net", "https://tenant-1.safeconsole.example.net"},
		{m, "https://Tenant-1.SafeConsole.example.net/", "https://tenant-1.safeconsole.example.net"},
		{m, "https://tenant-1.safeconsole.example.net.evil.example", ""},
		{m, "https://evil.example/tenant.safeconsole.example.net", ""},
		{m, "https://tenant-1.safeconsole.example.net/sub", ""}, // pattern targets have no path
		{m, "https://tenant-1.safeconsole.example.net:8443", ""},
		{m, "https://x@tenant-1.safeconsole.example.net", ""},
		{m, "https://tenant-1.safeconsole.example.net@evil.example", ""},
		{m, "https://evil.example#.safeconsole.example.net", ""},
		{m, "https://evil.example?.safeconsole.example.net", ""},
		{m, "https://evil.example%2f.safeconsole.example.net", ""},
		{m, "https://evil.example\\.safeconsole.example.net", ""},
		{m, "https://sc1.example.com/../x", ""},
		{m, "//sc1.example.com", ""},
		{m, "sc1.example.com", ""},
		{m, "", ""},
		{m, "ftp://sc1.example.com", ""},
		{lab, "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{lab, "http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{lab, "http://127.0.0.1:8081", ""},
		{lab, "http://127.0.0.1:8080/safeconsole", ""},
	} {
		got, err := tc.m.Allow(tc.target)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: Allow(%q) = %q, want refused", tc.m.Name(), tc.target, got)
			} else if _, ok := err.(*TargetError); !ok {
				t.Errorf("%s: Allow(%q) error is %T, want *TargetError", tc.m.Name(), tc.target, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: Allow(%q) = %q, %v; want %q", tc.m.Name(), tc.target, got, err, tc.want)
		}
	}
}

func TestCanonicalTarget(t *testing.T) {
	for in, want := range map[string]string{
		"https://a.example.com":                "https://a.example.com",
		"https://a.example.com/":               "https://a.example.com",
		"https://A.example.com:8443/sc/":       "https://a.example.com:8443/sc",
		"https://[2001:DB8::1]:8443":           "https://[2001:db8::1]:8443",
		"https://192.0.2.1":                    "https://192.0.2.1",
		"https://a.example.com/safeconsole":    "https://a.example.com/safeconsole",
		"https://a.example.com:0":              "",
		"https://a.example.com:65536":          "",
		"https://a.example.com:":               "",
		"https://a.example.com:x":              "",
		"https://a_b..example.com":             "",
		"https://-a.example.com":               "",
		"https://[::ffff:192.0.2.1]":           "",
		"https://a.example.com/a b":            "",
		"https://a.example.com/./x":            "",
		"https://a.example.com?":               "",
		"https://a.example.com#":               "",
		"https://a.example.com/x;y":            "",
		"https://" + strings.Repeat("a", 2100): "",
	} {
		got, _, err := CanonicalTarget(in)
		if want == "" {
			if err == nil {
				t.Errorf("CanonicalTarget(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("CanonicalTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestExampleFileLoads(t *testing.T) {
	// examples/safeconsole.yml names token files under /etc; load it with
	// those paths pointed at a temporary token so every other check runs.
	data, err := os.ReadFile("../examples/safeconsole.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte(testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, p := range []string{"/etc/safeconsole_exporter/tenant-a.token", "/etc/safeconsole_exporter/tenants.token", "/etc/safeconsole_exporter/lab.token"} {
		if !strings.Contains(text, p) {
			t.Fatalf("example no longer names %s; update this test", p)
		}
		text = strings.ReplaceAll(text, p, tok)
	}
	text = strings.ReplaceAll(text, "/etc/safeconsole_exporter/ca.pem", ca)
	cfg, err := Parse([]byte(text), dir)
	if err != nil {
		t.Fatalf("examples/safeconsole.yml: %v", err)
	}
	if len(cfg.Modules) < 2 {
		t.Fatalf("example has %d modules", len(cfg.Modules))
	}
}

// testCA is a self-signed certificate, only parsed.
const testCA = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
`
