// Package safeconsole is a read-only client for the SafeConsole REST API
// (beta): it pages through the user and drive list and reads OU names. It
// knows nothing of Prometheus.
package safeconsole

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/config"
	"github.com/valyala/fastjson"
)

// Action names. The list action's real name is not documented, so it is a
// setting (Config.ListAction) with DefaultListAction as its default.
const (
	ActionOUs         = "get_ous"
	DefaultListAction = "get_users"
)

// Paging says how the server reads the list request's `start`.
type Paging string

const (
	PagingOffset Paging = "offset" // start is a record offset (most likely)
	PagingNumber Paging = "page"   // start is a page index
)

// Defaults, chosen from the measurements in BENCHMARKS.md.
const (
	DefaultPageSize         = 500
	DefaultConcurrency      = 4
	DefaultMaxResponseBytes = 16 << 20
	DefaultMaxRetries       = 3
)

// Config configures a Client. URL and a token source are required.
type Config struct {
	// URL is the server's base address, e.g. https://safeconsole.example.com.
	URL string
	// TokenFile holds the API token; it is read again for every request, so
	// a rotated token is used without a restart. Token is the alternative
	// for a token from the environment.
	TokenFile string
	Token     config.Secret
	// HTTPClientConfig carries TLS, proxy and HTTP/2 settings. Its
	// Authorization is filled in from the token settings above.
	HTTPClientConfig config.HTTPClientConfig
	// AllowInsecureHTTP permits a plain http:// URL; the token would cross
	// the network in clear text, so it is refused otherwise.
	AllowInsecureHTTP bool

	ListAction  string
	PageSize    int
	Concurrency int
	SortBy      string
	SortOrder   string
	Keyword     string
	Paging      Paging

	// MaxResponseBytes caps each answer's body, so memory is bounded by
	// page size x concurrency and never by what a server chooses to send.
	MaxResponseBytes int64
	// MaxRetries is how many times a request is retried after 429, 5xx or a
	// connection error, deadline permitting.
	MaxRetries int
	// WantOwner keeps the drives' owner e-mail (personal data).
	WantOwner bool
	UserAgent string

	Logger log.Logger
	// OnRequest, when set, is called once per HTTP request with the action
	// and the status code ("error" when no answer arrived).
	OnRequest func(action, code string)
}

// Client talks to one SafeConsole server. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string // <base>/safeconsole/admin
	host     string
	http     *http.Client
	logger   log.Logger
	bufs     sync.Pool
	// lastOUs holds the OU names of the last scan that read them.
	lastOUs atomic.Pointer[map[int64]string]
}

// NewClient validates cfg, fills in defaults and builds the HTTP client
// through prometheus/common/config, so TLS, proxies and token-file reading
// are the ecosystem's code.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("safeconsole URL: %w", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && cfg.AllowInsecureHTTP:
	case u.Scheme == "http":
		return nil, fmt.Errorf("safeconsole URL %q is plain http: the API token would cross the network unencrypted; use https, or set --safeconsole.allow-insecure-http if this is a trusted local path", u.Redacted())
	default:
		return nil, fmt.Errorf("safeconsole URL %q must start with https://", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("safeconsole URL %q has no host", u.Redacted())
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("safeconsole URL %q must be a plain base address without credentials, query or fragment", u.Redacted())
	}
	base := strings.TrimSuffix(u.Path, "/")
	base = strings.TrimSuffix(base, "/safeconsole/admin")
	base = strings.TrimSuffix(base, "/safeconsole")
	u.Path = base + "/safeconsole/admin"

	hc := cfg.HTTPClientConfig
	// An API call never legitimately redirects; following one could hand
	// the token, or at least the request, to another host.
	hc.FollowRedirects = false
	hc.Authorization = &config.Authorization{Type: "Bearer", Credentials: cfg.Token, CredentialsFile: cfg.TokenFile}
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("safeconsole HTTP client settings: %w", err)
	}
	opts := []config.HTTPClientOption{}
	if cfg.UserAgent != "" {
		opts = append(opts, config.WithUserAgent(cfg.UserAgent))
	}
	httpClient, err := config.NewClientFromConfig(hc, "safeconsole", opts...)
	if err != nil {
		return nil, fmt.Errorf("safeconsole HTTP client: %w", err)
	}
	return &Client{
		cfg:      cfg,
		endpoint: u.String(),
		host:     u.Host,
		http:     httpClient,
		logger:   cfg.Logger,
	}, nil
}

func (cfg *Config) setDefaults() error {
	if cfg.URL == "" {
		return errors.New("no SafeConsole URL: set --safeconsole.url")
	}
	if cfg.TokenFile == "" && cfg.Token == "" {
		return errors.New("no API token: set --safeconsole.token-file or the SAFECONSOLE_TOKEN environment variable")
	}
	if cfg.TokenFile != "" && cfg.Token != "" {
		return errors.New("both a token file and a token from the environment are set: keep one")
	}
	if cfg.ListAction == "" {
		cfg.ListAction = DefaultListAction
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.PageSize < 1 || cfg.PageSize > 100_000 {
		return fmt.Errorf("page size %d is out of range (1 to 100000)", cfg.PageSize)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > 64 {
		return fmt.Errorf("concurrency %d is out of range (1 to 64)", cfg.Concurrency)
	}
	if cfg.SortBy == "" {
		cfg.SortBy = "last_login"
	}
	if cfg.SortOrder == "" {
		cfg.SortOrder = "DESC"
	}
	if cfg.Keyword == "" {
		cfg.Keyword = "search_all"
	}
	switch cfg.Paging {
	case "":
		cfg.Paging = PagingOffset
	case PagingOffset, PagingNumber:
	default:
		return fmt.Errorf("paging %q is neither %q nor %q", cfg.Paging, PagingOffset, PagingNumber)
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxResponseBytes < 1024 {
		return fmt.Errorf("maximum response size %d is too small", cfg.MaxResponseBytes)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	return nil
}

// CloseIdleConnections closes the client's idle keep-alive connections, for
// a client that is being dropped (a probe target evicted or reloaded).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Host is the server's host[:port], fit for a label.
func (c *Client) Host() string { return c.host }

// Config returns the effective configuration, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// token reads the current token, for expiry and for redacting it from
// anything a server echoes back.
func (c *Client) token() (string, error) {
	if c.cfg.TokenFile == "" {
		return string(c.cfg.Token), nil
	}
	b, err := os.ReadFile(c.cfg.TokenFile)
	if err != nil {
		return "", &Error{Action: "read token", Kind: KindConfig, Err: fmt.Errorf("token file: %w", err)}
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", &Error{Action: "read token", Kind: KindConfig, Err: fmt.Errorf("token file %s is empty", c.cfg.TokenFile)}
	}
	return tok, nil
}

// TokenExpiry reads the token and returns its JWT `exp`; ok is false when
// the token is not a JWT or carries no expiry.
func (c *Client) TokenExpiry() (exp time.Time, ok bool, err error) {
	tok, err := c.token()
	if err != nil {
		return time.Time{}, false, err
	}
	exp, ok = JWTExpiry(tok)
	return exp, ok, nil
}

func (c *Client) getBuf() *bytes.Buffer {
	if b, ok := c.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

func (c *Client) putBuf(b *bytes.Buffer) {
	// Keep pooled buffers near a page's size; drop a hostile one.
	if int64(b.Cap()) <= c.cfg.MaxResponseBytes/4 || b.Cap() <= 4<<20 {
		c.bufs.Put(b)
	}
}

// call performs one API request with retries and reads the answer into
// buf. Any non-200 answer is an *Error.
func (c *Client) call(ctx context.Context, counter *atomic.Int64, action, method string, reqBody []byte, buf *bytes.Buffer, redact string) error {
	var last error
	for attempt := 0; ; attempt++ {
		retryAfter, err := c.attempt(ctx, counter, action, method, reqBody, buf, redact)
		if err == nil {
			return nil
		}
		last = err
		var apiErr *Error
		if !errors.As(err, &apiErr) || !retryable(apiErr) || attempt >= c.cfg.MaxRetries {
			return last
		}
		wait := backoff(attempt)
		if retryAfter > 0 {
			wait = retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// Waiting would overrun the scrape; report what we have.
			return last
		}
		level.Debug(c.logger).Log("msg", "retrying SafeConsole request", "action", action, "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return last
		case <-t.C:
		}
	}
}

func retryable(e *Error) bool {
	// A certificate that failed verification fails again: retrying only
	// repeats handshakes with a server the client does not trust.
	var cv *tls.CertificateVerificationError
	if errors.As(e.Err, &cv) {
		return false
	}
	switch e.Kind {
	case KindRateLimited, KindServer, KindTransport:
		return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
	}
	return false
}

func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << attempt
	if d > 2*time.Second {
		d = 2 * time.Second
	}
	// Up to 25% jitter so that replicas do not retry in lockstep.
	return d + time.Duration(rand.Int64N(int64(d/4)+1))
}

func (c *Client) attempt(ctx context.Context, counter *atomic.Int64, action, method string, reqBody []byte, buf *bytes.Buffer, redact string) (time.Duration, error) {
	buf.Reset()
	var body io.Reader
	if reqBody != nil {
		body = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+"?action="+url.QueryEscape(action), body)
	if err != nil {
		return 0, &Error{Action: action, Kind: KindConfig, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	if counter != nil {
		counter.Add(1)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.observe(action, "error")
		return 0, c.transportError(ctx, action, err)
	}
	defer resp.Body.Close()
	c.observe(action, strconv.Itoa(resp.StatusCode))

	if resp.StatusCode != http.StatusOK {
		return c.statusError(action, resp, redact)
	}
	if resp.ContentLength > c.cfg.MaxResponseBytes {
		return 0, &Error{Action: action, Kind: KindTooLarge, Status: resp.StatusCode,
			Err: fmt.Errorf("answer of %d bytes exceeds the %d byte limit", resp.ContentLength, c.cfg.MaxResponseBytes)}
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return 0, &Error{Action: action, Kind: KindProtocol, Status: resp.StatusCode,
			Err: fmt.Errorf("answer has Content-Encoding %q, which was not asked for", truncate(enc, 40))}
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return 0, &Error{Action: action, Kind: KindTimeout, Err: fmt.Errorf("reading the answer: %w", ctx.Err())}
		}
		return 0, &Error{Action: action, Kind: KindTransport, Err: fmt.Errorf("reading the answer after %d bytes: %w", n, err)}
	}
	if n > c.cfg.MaxResponseBytes {
		return 0, &Error{Action: action, Kind: KindTooLarge, Status: resp.StatusCode,
			Err: fmt.Errorf("answer exceeds the %d byte limit", c.cfg.MaxResponseBytes)}
	}
	return 0, nil
}

func (c *Client) observe(action, code string) {
	if c.cfg.OnRequest != nil {
		c.cfg.OnRequest(action, code)
	}
}

func (c *Client) transportError(ctx context.Context, action string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Action: action, Kind: KindTimeout, Err: errors.New("no answer before the scrape deadline")}
	}
	// url.Error carries the request URL, which holds no secret; drop it
	// anyway to keep the message short.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Action: action, Kind: KindTimeout, Err: err}
	}
	return &Error{Action: action, Kind: KindTransport, Err: err}
}

// statusError turns a non-200 answer into an *Error, with the server's
// message (redacted, truncated) when it sent a JSON one.
func (c *Client) statusError(action string, resp *http.Response, redact string) (time.Duration, error) {
	e := &Error{Action: action, Status: resp.StatusCode}
	small, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if msg := errorMessage(small, redact); msg != "" {
		e.Err = errors.New("server said " + strconv.Quote(msg))
	}
	var retryAfter time.Duration
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		e.Kind = KindUnauthorized
	case s == http.StatusForbidden:
		e.Kind = KindForbidden
	case s == http.StatusNotFound:
		e.Kind = KindUnknownAction
	case s == http.StatusTooManyRequests:
		e.Kind = KindRateLimited
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case s >= 300 && s < 400:
		e.Kind = KindRedirect
		if loc, err := resp.Location(); err == nil {
			e.Err = fmt.Errorf("redirected to %s://%s", loc.Scheme, loc.Host)
		}
	case s >= 500:
		e.Kind = KindServer
		retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		e.Kind = KindServer
		if isUnknownActionMessage(e.Err) {
			e.Kind = KindUnknownAction
		}
	}
	return retryAfter, e
}

// errorMessage extracts "message" from a JSON error body; the body's shape
// is not documented, so anything else yields "".
func errorMessage(body []byte, redact string) string {
	var parser fastjson.Parser
	root, err := parser.ParseBytes(body)
	if err != nil {
		return ""
	}
	mv := root.Get("message")
	if mv == nil {
		mv = root.Get("error")
	}
	if mv == nil {
		return ""
	}
	b, err := mv.StringBytes()
	if err != nil {
		return ""
	}
	return sanitizeMessage(string(b), redact)
}

func sanitizeMessage(msg, redact string) string {
	if redact != "" {
		msg = strings.ReplaceAll(msg, redact, "[REDACTED]")
	}
	msg = redactJWTs(msg)
	return truncate(toValidUTF8(msg), 200)
}

func isUnknownActionMessage(err error) bool {
	if err == nil {
		return false
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "action") && (strings.Contains(m, "unknown") || strings.Contains(m, "invalid") || strings.Contains(m, "not found") || strings.Contains(m, "unsupported"))
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// unreadable. It is capped so a server cannot park a scrape.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		if secs > 3600 {
			secs = 3600
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return d
}
