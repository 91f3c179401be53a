// Package config reads the exporter's module file (--config.file): named
// modules that say which SafeConsole servers /probe may read, with which
// token and client settings. Everything is checked when the file is loaded,
// so a bad file is refused whole and never half applied.
package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
)

// maxFileSize bounds the module file; a real one is a few kilobytes.
const maxFileSize = 4 << 20

// Config is a parsed and validated module file.
type Config struct {
	Modules map[string]*Module `yaml:"modules"`
}

// Module is one named set of targets and the settings to read them with.
// The YAML keys are the documented file format (README.md, "Module file").
type Module struct {
	// Targets lists base URLs /probe may read, compared after
	// normalisation (see CanonicalTarget).
	Targets []string `yaml:"targets,omitempty"`
	// TargetPattern is a regular expression the whole base URL must match.
	// It must be written anchored (^...$) and may only match bare
	// scheme://host[:port] addresses.
	TargetPattern string `yaml:"target_pattern,omitempty"`
	// AllowInsecureHTTP permits http:// targets, which send the token in
	// clear text: for trusted local paths only.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http,omitempty"`
	// TokenFile holds the API token, re-read on every request. Relative
	// paths are relative to the module file.
	TokenFile string `yaml:"token_file"`
	// HTTPClientConfig carries TLS, proxy and HTTP/2 settings. It must not
	// carry credentials: the Authorization header comes from TokenFile.
	HTTPClientConfig config.HTTPClientConfig `yaml:"http_client_config,omitempty"`

	ListAction      string         `yaml:"list_action,omitempty"`
	Paging          string         `yaml:"paging,omitempty"`
	PageSize        int            `yaml:"page_size,omitempty"`
	Concurrency     int            `yaml:"concurrency,omitempty"`
	SortBy          string         `yaml:"sort_by,omitempty"`
	SortOrder       string         `yaml:"sort_order,omitempty"`
	Keyword         string         `yaml:"keyword,omitempty"`
	MaxResponseSize int64          `yaml:"max_response_size,omitempty"`
	MaxRetries      *int           `yaml:"max_retries,omitempty"`
	Timeout         model.Duration `yaml:"timeout,omitempty"`

	FirmwareMinimumVersion string    `yaml:"firmware_minimum_version,omitempty"`
	Devices                *bool     `yaml:"devices,omitempty"`
	OwnerEmail             bool      `yaml:"owner_email,omitempty"`
	LastSeenBuckets        []float64 `yaml:"last_seen_buckets,omitempty"`

	name    string
	allowed map[string]struct{} // canonical forms of Targets
	pattern *regexp.Regexp      // TargetPattern, anchored
}

// UnmarshalYAML starts a module from the same HTTP client defaults
// prometheus/common uses when http_client_config is present, so leaving the
// key out and writing it empty mean the same.
func (m *Module) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Module
	*m = Module{HTTPClientConfig: config.DefaultHTTPClientConfig}
	return unmarshal((*plain)(m))
}

// Name returns the module's name in the file.
func (m *Module) Name() string { return m.name }

var moduleNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// Load reads, parses and validates a module file. Unknown keys are errors.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the module file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the module file %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("module file %s is larger than %d bytes", path, maxFileSize)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("module file path: %w", err)
	}
	cfg, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("module file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse parses and validates a module file's content; relative file paths
// are resolved against dir.
func Parse(data []byte, dir string) (*Config, error) {
	cfg := &Config{}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	if len(cfg.Modules) == 0 {
		return nil, errors.New("no modules defined: the file needs a `modules:` map with at least one module")
	}
	for _, name := range cfg.ModuleNames() {
		m := cfg.Modules[name]
		if m == nil {
			return nil, fmt.Errorf("module %q is empty: it needs at least token_file and targets or target_pattern", name)
		}
		if !moduleNamePattern.MatchString(name) {
			return nil, fmt.Errorf("module name %q: use letters, digits, '_', '.', ':' and '-' only", name)
		}
		m.name = name
		if err := m.prepare(dir); err != nil {
			return nil, fmt.Errorf("module %q: %w", name, err)
		}
	}
	return cfg, nil
}

// ModuleNames returns the module names, sorted.
func (c *Config) ModuleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Module returns the named module.
func (c *Config) Module(name string) (*Module, bool) {
	if c == nil {
		return nil, false
	}
	m, ok := c.Modules[name]
	return m, ok && m != nil
}

// validationURL stands in for a target when the client settings are
// checked at load time; nothing is ever sent to it.
const validationURL = "https://config-check.invalid"

func (m *Module) prepare(dir string) error {
	if len(m.Targets) == 0 && m.TargetPattern == "" {
		return errors.New("neither targets nor target_pattern is set: list the servers this module may read")
	}
	m.allowed = make(map[string]struct{}, len(m.Targets))
	for _, t := range m.Targets {
		c, u, err := CanonicalTarget(t)
		if err != nil {
			return fmt.Errorf("targets: %w", err)
		}
		if u.Scheme == "http" && !m.AllowInsecureHTTP {
			return fmt.Errorf("targets: %q is plain http, which would send the API token unencrypted: use https, or set allow_insecure_http: true for a trusted local path", t)
		}
		m.allowed[c] = struct{}{}
	}
	if m.TargetPattern != "" {
		re, err := compilePattern(m.TargetPattern, m.AllowInsecureHTTP)
		if err != nil {
			return fmt.Errorf("target_pattern: %w", err)
		}
		m.pattern = re
	}

	if m.TokenFile == "" {
		return errors.New("token_file is required: the API token is read from a file, never from the module file or the probe URL")
	}
	m.TokenFile = config.JoinDir(dir, m.TokenFile)
	if err := checkTokenFile(m.TokenFile); err != nil {
		return err
	}
	hc := &m.HTTPClientConfig
	if hc.Authorization != nil || hc.BasicAuth != nil || hc.OAuth2 != nil {
		return errors.New("http_client_config must not carry credentials (authorization, bearer_token, basic_auth, oauth2): the API token comes from token_file")
	}
	hc.SetDirectory(dir)

	switch m.Paging {
	case "", string(safeconsole.PagingOffset), string(safeconsole.PagingNumber):
	default:
		return fmt.Errorf("paging %q is neither %q nor %q", m.Paging, safeconsole.PagingOffset, safeconsole.PagingNumber)
	}
	if m.MaxRetries != nil && (*m.MaxRetries < 0 || *m.MaxRetries > 10) {
		return fmt.Errorf("max_retries %d is out of range (0 to 10)", *m.MaxRetries)
	}
	if m.Timeout < 0 {
		return fmt.Errorf("timeout %s is negative", m.Timeout)
	}
	if err := collector.ParseMinimumVersion(m.FirmwareMinimumVersion); err != nil {
		return fmt.Errorf("firmware_minimum_version: %w", err)
	}
	// The API client and the collector check the remaining settings (page
	// size, concurrency, response size, TLS files, buckets) themselves;
	// building both once here turns their errors into load errors instead
	// of failed probes. Neither sends anything when built.
	if _, err := safeconsole.NewClient(m.ClientConfig(validationURL)); err != nil {
		return err
	}
	if _, err := collector.New(noScanner{}, m.CollectorOptions()); err != nil {
		return err
	}
	return nil
}

func checkTokenFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("token_file: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return fmt.Errorf("token_file %s is empty", path)
	}
	return nil
}

// ClientConfig returns the API client settings for target, which must be
// the canonical form Allow returned. Logger, UserAgent and OnRequest are
// left for the caller.
func (m *Module) ClientConfig(target string) safeconsole.Config {
	cfg := safeconsole.Config{
		URL:               target,
		TokenFile:         m.TokenFile,
		HTTPClientConfig:  m.HTTPClientConfig,
		AllowInsecureHTTP: m.AllowInsecureHTTP,
		ListAction:        m.ListAction,
		PageSize:          m.PageSize,
		Concurrency:       m.Concurrency,
		SortBy:            m.SortBy,
		SortOrder:         m.SortOrder,
		Keyword:           m.Keyword,
		Paging:            safeconsole.Paging(m.Paging),
		MaxResponseBytes:  m.MaxResponseSize,
		WantOwner:         m.OwnerEmail,
	}
	if m.MaxRetries != nil {
		cfg.MaxRetries = *m.MaxRetries
		if cfg.MaxRetries == 0 {
			cfg.MaxRetries = -1 // the client reads 0 as "default"
		}
	}
	return cfg
}

// CollectorOptions returns the collector settings; Logger and Timeout are
// left for the caller.
func (m *Module) CollectorOptions() collector.Options {
	devices := true
	if m.Devices != nil {
		devices = *m.Devices
	}
	return collector.Options{
		FirmwareMinimum: m.FirmwareMinimumVersion,
		Devices:         devices,
		OwnerEmail:      m.OwnerEmail,
		LastSeenBuckets: m.LastSeenBuckets,
	}
}

// ProbeTimeout returns the module's timeout, 0 when it sets none.
func (m *Module) ProbeTimeout() time.Duration { return time.Duration(m.Timeout) }

// noScanner stands in for the API client when the collector options are
// validated; it is never called.
type noScanner struct{}

func (noScanner) Scan(context.Context, safeconsole.VisitFunc) (*safeconsole.ScanResult, error) {
	return nil, errors.New("not a scanner")
}

func (noScanner) TokenExpiry() (time.Time, bool, error) { return time.Time{}, false, nil }
