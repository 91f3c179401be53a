package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// maxTargetLength bounds a target URL; base addresses are short.
const maxTargetLength = 2048

var (
	// hostnamePattern accepts DNS names (lower case, after folding) and
	// IPv4 addresses; underscores appear in some internal names.
	hostnamePattern = regexp.MustCompile(`^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$`)
	// pathPattern accepts a base path of plain segments: no escapes, no
	// dot segments (checked separately), nothing a server could read
	// differently from the exporter.
	pathPattern = regexp.MustCompile(`^(?:/[A-Za-z0-9._~-]+)*$`)
)

// TargetError says why a target was refused. Its message is safe to show
// to whoever sent the probe.
type TargetError struct {
	Target string
	Reason string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("target %q %s", truncate(e.Target, 200), e.Reason)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// CanonicalTarget checks that raw is a plain base URL
// (scheme://host[:port][/path]) and returns its one canonical spelling:
// scheme and host in lower case, no trailing slash. Allow-lists and
// patterns are compared against this form, and the client is built from
// it, so what was checked is exactly what is contacted. Anything unusual
// (credentials, query, fragment, percent escapes, dot segments, odd host
// characters) is refused rather than interpreted.
func CanonicalTarget(raw string) (string, *url.URL, error) {
	fail := func(reason string) (string, *url.URL, error) {
		return "", nil, &TargetError{Target: raw, Reason: reason}
	}
	if raw == "" {
		return fail("is empty")
	}
	if len(raw) > maxTargetLength {
		return fail(fmt.Sprintf("is longer than %d characters", maxTargetLength))
	}
	if strings.ContainsAny(raw, "%\\ \t\r\n") {
		return fail("contains percent escapes, backslashes or white space")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fail("is not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fail("must start with https:// (a SafeConsole base URL such as https://safeconsole.example.com)")
	}
	if u.Opaque != "" || u.Host == "" {
		return fail("has no host")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return fail("must be a plain base address without credentials, query or fragment")
	}
	host, err := canonicalHost(u.Host)
	if err != nil {
		return fail(err.Error())
	}
	path := strings.TrimSuffix(u.Path, "/")
	if !pathPattern.MatchString(path) {
		return fail("has a path with characters other than letters, digits and ._~-")
	}
	for seg := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		if seg == "." || seg == ".." {
			return fail("has a . or .. path segment")
		}
	}
	c := &url.URL{Scheme: u.Scheme, Host: host, Path: path}
	return c.String(), c, nil
}

func canonicalHost(hostport string) (string, error) {
	hostport = strings.ToLower(hostport)
	var name, port string
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", errors.New("has an unterminated IPv6 address")
		}
		name, port = hostport[:end+1], hostport[end+1:]
		ip := net.ParseIP(name[1 : len(name)-1])
		if ip == nil || ip.To4() != nil {
			return "", errors.New("has an invalid IPv6 address")
		}
		name = "[" + ip.String() + "]"
	} else {
		name, port = hostport, ""
		if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
			name, port = hostport[:i], hostport[i:]
		}
		if len(name) > 253 || !hostnamePattern.MatchString(name) {
			return "", errors.New("has a host name with characters other than letters, digits, '.', '-' and '_'")
		}
	}
	if port == "" {
		return name, nil
	}
	digits := strings.TrimPrefix(port, ":")
	n, err := strconv.Atoi(digits)
	if !strings.HasPrefix(port, ":") || err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != digits {
		return "", errors.New("has an invalid port")
	}
	return name + port, nil
}

// patternCanaries are addresses no legitimate target_pattern matches: a
// pattern that accepts one of them accepts any host, and would let anyone
// who can reach /probe aim the exporter, and the module's token, at a
// server of their choosing.
var patternCanaries = []string{
	"https://safeconsole-exporter-canary.invalid",
	"https://safeconsole-exporter-canary.invalid:8443",
	"https://203.0.113.7",
	"https://203.0.113.7:8443",
	"https://[2001:db8::7]",
	"https://[2001:db8::7]:8443",
}

func compilePattern(p string, allowHTTP bool) (*regexp.Regexp, error) {
	if !strings.HasPrefix(p, "^") || !strings.HasSuffix(p, "$") || escapedDollar(p) {
		return nil, fmt.Errorf("%q must be anchored: write it as ^...$ around the whole base URL", p)
	}
	switch {
	case strings.HasPrefix(p, "^https://"):
	case allowHTTP && (strings.HasPrefix(p, "^http://") || strings.HasPrefix(p, `^https?://`)):
	case allowHTTP:
		return nil, fmt.Errorf("%q must start with ^https://, ^http:// or ^https?://", p)
	default:
		return nil, fmt.Errorf("%q must start with ^https:// (plain http sends the token unencrypted; allow_insecure_http: true permits it on trusted local paths)", p)
	}
	// Wrapping keeps an alternation such as ^a$|b from matching more than
	// the whole string.
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, fmt.Errorf("%q does not compile: %w", p, err)
	}
	for _, c := range patternCanaries {
		for _, scheme := range []string{"https://", "http://"} {
			probe := scheme + strings.TrimPrefix(c, "https://")
			if re.MatchString(probe) {
				return nil, fmt.Errorf("%q matches any host (it accepts %s): spell out the allowed host names, e.g. ^https://[a-z0-9-]+\\.safeconsole\\.example\\.com$", p, probe)
			}
		}
	}
	return re, nil
}

// escapedDollar reports whether p's final $ is a literal (preceded by an
// odd number of backslashes) rather than the end anchor.
func escapedDollar(p string) bool {
	n := 0
	for i := len(p) - 2; i >= 0 && p[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// Allow checks target against the module and returns its canonical form,
// the only address the probe may contact. The error is a *TargetError.
func (m *Module) Allow(target string) (string, error) {
	c, u, err := CanonicalTarget(target)
	if err != nil {
		return "", err
	}
	if u.Scheme == "http" && !m.AllowInsecureHTTP {
		return "", &TargetError{Target: target, Reason: fmt.Sprintf("is plain http, which module %q does not allow (allow_insecure_http)", m.name)}
	}
	if _, ok := m.allowed[c]; ok {
		return c, nil
	}
	if m.pattern != nil && u.Path == "" && m.pattern.MatchString(c) {
		return c, nil
	}
	if m.pattern != nil && u.Path != "" {
		return "", &TargetError{Target: target, Reason: fmt.Sprintf("is not allowed by module %q: it has a path, and target_pattern only admits bare scheme://host[:port] addresses (list it under targets)", m.name)}
	}
	return "", &TargetError{Target: target, Reason: fmt.Sprintf("is not allowed by module %q: it is not in the module's targets and does not match its target_pattern", m.name)}
}
