package safeconsoletest

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// APIPath is the one path SafeConsole's REST API answers on.
const APIPath = "/safeconsole/admin"

// DefaultListAction is the action name the server pages users under unless
// WithListAction says otherwise.
const DefaultListAction = "get_users"

// DefaultMaxLimit is the largest page a server returns unless WithMaxLimit
// says otherwise.
const DefaultMaxLimit = 1000

// maxRequestBody bounds what the server reads of a request body.
const maxRequestBody = 1 << 20

// Paging says how the server reads the request's "start".
type Paging int

const (
	// PageByOffset: start is the offset of the first record.
	PageByOffset Paging = iota
	// PageByNumber: start is a zero-based page index; the first record is start*limit.
	PageByNumber
)

type config struct {
	token      string
	latency    time.Duration
	listAction string
	paging     Paging
	maxLimit   int
	logger     *log.Logger
	seedShape  bool
}

// Option configures a Server.
type Option func(*config)

// WithToken sets the bearer token the server accepts (default DefaultToken).
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithLatency delays every answer by d.
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = max(d, 0) } }

// WithListAction sets the action name of the paged user list (default DefaultListAction).
func WithListAction(name string) Option { return func(c *config) { c.listAction = name } }

// WithPaging sets how "start" is read (default PageByOffset).
func WithPaging(p Paging) Option { return func(c *config) { c.paging = p } }

// WithSeedShape makes list answers carry only the members of the vendor's
// example response. By default every user and drive also carries members
// the example does not show (nested objects, arrays, escaped strings), as
// real answers may ("some content has been abbreviated"), which about
// doubles an answer's size.
func WithSeedShape() Option { return func(c *config) { c.seedShape = true } }

// WithMaxLimit caps the page size at n (default DefaultMaxLimit).
func WithMaxLimit(n int) Option { return func(c *config) { c.maxLimit = n } }

// WithLogger logs one line per request to l.
func WithLogger(l *log.Logger) Option { return func(c *config) { c.logger = l } }

// Server is a simulated SafeConsole REST API on 127.0.0.1.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:port" or "https://127.0.0.1:port",
	// without a path: the API is at URL + APIPath.
	URL string

	ts  *httptest.Server
	cfg config

	mu        sync.Mutex
	fleet     *Fleet
	token     string
	faults    []*faultState
	onPage    func(page int)
	perAction map[string]int64
	total     int64
	tokens    []string
	tokenSeen map[string]bool

	cacheMu sync.Mutex
	cache   map[viewKey][]int32

	closed    chan struct{}
	closeOnce sync.Once
}

// NewServer starts a plain HTTP server serving f.
func NewServer(f *Fleet, opts ...Option) *Server {
	s := newServer(f, opts)
	s.ts.Start()
	s.URL = s.ts.URL
	return s
}

// NewTLSServer starts an HTTPS server serving f, with httptest's certificate
// (valid for 127.0.0.1). Client trusts it; CAFile writes it out for clients
// configured by file.
func NewTLSServer(f *Fleet, opts ...Option) *Server {
	s := newServer(f, opts)
	s.ts.StartTLS()
	s.URL = s.ts.URL
	return s
}

func newServer(f *Fleet, opts []Option) *Server {
	cfg := config{token: DefaultToken, listAction: DefaultListAction, maxLimit: DefaultMaxLimit}
	for _, o := range opts {
		o(&cfg)
	}
	if f == nil {
		f = &Fleet{Now: DefaultNow}
	}
	s := &Server{
		cfg:       cfg,
		fleet:     f,
		token:     cfg.token,
		perAction: map[string]int64{},
		tokenSeen: map[string]bool{},
		cache:     map[viewKey][]int32{},
		closed:    make(chan struct{}),
	}
	s.ts = httptest.NewUnstartedServer(s)
	// Clients that abort (timeouts, untrusted certificates) are the point of
	// many tests; their noise goes to the configured logger or nowhere.
	errLog := cfg.logger
	if errLog == nil {
		errLog = log.New(io.Discard, "", 0)
	}
	s.ts.Config.ErrorLog = errLog
	return s
}

// Close stops the server. Answers held back by Hang or latency end at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.ts.Close()
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Certificate returns the TLS certificate, or nil for a plain server.
func (s *Server) Certificate() *x509.Certificate {
	if s.ts.TLS == nil {
		return nil
	}
	return s.ts.Certificate()
}

// CAFile writes the server's certificate as PEM into dir and returns the
// file's path, for clients configured with a CA file.
func (s *Server) CAFile(dir string) (string, error) {
	c := s.Certificate()
	if c == nil {
		return "", errors.New("safeconsoletest: CAFile: server has no TLS certificate")
	}
	path := filepath.Join(dir, "safeconsole-ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("safeconsoletest: writing CA file: %w", err)
	}
	return path, nil
}

// SetToken rotates the accepted token; the previous one is refused from now on.
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
}

// SetFleet swaps the data served.
func (s *Server) SetFleet(f *Fleet) {
	s.mu.Lock()
	s.fleet = f
	s.mu.Unlock()
	s.cacheMu.Lock()
	clear(s.cache)
	s.cacheMu.Unlock()
}

// Fleet returns the fleet being served.
func (s *Server) Fleet() *Fleet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fleet
}

// Requests returns how many requests named action (refused ones included).
func (s *Server) Requests(action string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perAction[action]
}

// RequestsTotal returns how many requests reached the server, on any path.
func (s *Server) RequestsTotal() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// ResetCounters zeroes the request counters (not the observed tokens).
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total = 0
	clear(s.perAction)
}

// ObservedTokens returns the distinct bearer tokens seen, in order of first
// appearance. An Authorization header that is not a bearer token is recorded
// whole.
func (s *Server) ObservedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokens)
}

// OnPage sets a hook called with the page index when a list request arrives,
// after it is authenticated and parsed and before it is answered (and before
// faults apply). The hook may change the fleet through Fleet.AddUser,
// RemoveUser or Mutate, or call SetFleet. It runs on the request's
// goroutine, so with concurrent clients it may run concurrently with itself.
// nil removes the hook.
func (s *Server) OnPage(fn func(page int)) {
	s.mu.Lock()
	s.onPage = fn
	s.mu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.logger != nil {
		s.cfg.logger.Printf(format, args...)
	}
}

// wait sleeps d (forever if d < 0). If the client goes away or the server
// closes first, it aborts the handler: returning normally would make
// net/http send an empty 200, which a client could take for an answer.
func (s *Server) wait(ctx context.Context, d time.Duration) {
	if d == 0 {
		return
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return
	case <-ctx.Done():
	case <-s.closed:
	}
	panic(http.ErrAbortHandler)
}

type listRequest struct {
	Limit     int    `json:"limit"`
	Start     int    `json:"start"`
	SortBy    string `json:"sort_by"`
	SortOrder string `json:"sort_order"`
	Keyword   string `json:"keyword"`
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Query().Get("action")
	auth := r.Header.Get("Authorization")
	tok, isBearer := bearer(auth)
	if !isBearer {
		tok = auth
	}
	s.mu.Lock()
	s.total++
	s.perAction[action]++
	if tok != "" && !s.tokenSeen[tok] {
		s.tokenSeen[tok] = true
		s.tokens = append(s.tokens, tok)
	}
	want, fleet, hook := s.token, s.fleet, s.onPage
	s.mu.Unlock()

	s.wait(r.Context(), s.cfg.latency)
	if r.URL.Path != APIPath {
		s.replyError(w, http.StatusNotFound, "Not found")
		return
	}
	if !isBearer || subtle.ConstantTimeCompare([]byte(tok), []byte(want)) != 1 {
		s.logf("%s action=%q: 401", r.Method, action)
		s.replyError(w, http.StatusUnauthorized, "Invalid or expired token")
		return
	}
	switch action {
	case s.cfg.listAction:
		s.serveList(w, r, action, hook)
	case "get_ous":
		if r.Method != http.MethodGet {
			s.replyError(w, http.StatusMethodNotAllowed, "Method not allowed")
			return
		}
		fault, faulted := s.takeFault(action, 0)
		s.logf("GET action=get_ous fault=%v", faulted)
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		fleet.mu.RLock()
		*bp = appendOUs((*bp)[:0], fleet.OUs)
		fleet.mu.RUnlock()
		s.reply(w, r, fault, faulted, *bp, -1)
	default:
		s.logf("%s action=%q: 404", r.Method, action)
		s.replyError(w, http.StatusNotFound, "Unknown action")
	}
}

func bearer(h string) (string, bool) {
	const p = "bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):]), true
	}
	return "", false
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, action string, hook func(int)) {
	if r.Method != http.MethodPost {
		s.replyError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return // the client went away
	}
	var req listRequest
	if len(body) > maxRequestBody {
		s.replyError(w, http.StatusRequestEntityTooLarge, "Request body too large")
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.replyError(w, http.StatusBadRequest, "Malformed request body: "+err.Error())
		return
	}
	if req.Limit <= 0 {
		s.replyError(w, http.StatusBadRequest, "limit must be positive")
		return
	}
	if req.Start < 0 {
		s.replyError(w, http.StatusBadRequest, "start must not be negative")
		return
	}
	sortBy := cmp.Or(req.SortBy, "last_login")
	if sortBy != "last_login" && sortBy != "id" && sortBy != "email" {
		s.replyError(w, http.StatusBadRequest, "Unknown sort_by: "+req.SortBy)
		return
	}
	desc := true
	switch strings.ToUpper(req.SortOrder) {
	case "", "DESC":
	case "ASC":
		desc = false
	default:
		s.replyError(w, http.StatusBadRequest, "Unknown sort_order: "+req.SortOrder)
		return
	}
	limit := min(req.Limit, s.cfg.maxLimit)
	page, offset := req.Start/limit, req.Start
	if s.cfg.paging == PageByNumber {
		page, offset = req.Start, req.Start*limit
	}

	if hook != nil {
		hook(page)
	}
	fault, faulted := s.takeFault(action, page)
	s.logf("POST action=%s start=%d limit=%d page=%d fault=%v", action, req.Start, limit, page, faulted)
	if faulted && fault.RepeatPage != 0 {
		offset = max(fault.RepeatPage, 0) * limit
	}

	s.mu.Lock()
	fleet := s.fleet // the hook may have swapped it
	s.mu.Unlock()

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	padAt := -1
	fleet.mu.RLock()
	idx := s.view(fleet, sortBy, desc, req.Keyword)
	total := len(idx)
	if offset < total {
		idx = idx[offset:min(offset+limit, total)]
	} else {
		idx = nil
	}
	users := make([]*User, len(idx))
	for i, j := range idx {
		users[i] = &fleet.Users[j]
	}
	if faulted {
		total += fault.TotalDelta
	}
	*bp = appendPage((*bp)[:0], users, total, &padAt, s.cfg.seedShape)
	fleet.mu.RUnlock()
	s.reply(w, r, fault, faulted, *bp, padAt)
}

type viewKey struct {
	fleet   *Fleet
	version uint64
	n       int
	sortBy  string
	desc    bool
	keyword string
}

// view returns the indexes of the users matching keyword in the requested
// order. Sorting 100,000 users per page would dominate a scrape, so orders
// are cached per fleet version. The caller holds f.mu for reading.
func (s *Server) view(f *Fleet, sortBy string, desc bool, keyword string) []int32 {
	if keyword == "search_all" {
		keyword = ""
	}
	k := viewKey{f, f.version, len(f.Users), sortBy, desc, keyword}
	s.cacheMu.Lock()
	idx, ok := s.cache[k]
	s.cacheMu.Unlock()
	if ok {
		return idx
	}
	kw := strings.ToLower(keyword)
	idx = make([]int32, 0, len(f.Users))
	for i := range f.Users {
		if kw == "" || strings.Contains(strings.ToLower(f.Users[i].Email), kw) {
			idx = append(idx, int32(i))
		}
	}
	users := f.Users
	slices.SortFunc(idx, func(a, b int32) int {
		ua, ub := &users[a], &users[b]
		var c int
		switch sortBy {
		case "email":
			c = strings.Compare(ua.Email, ub.Email)
		case "last_login":
			c = ua.LastLogin.Compare(ub.LastLogin)
		}
		if desc {
			c = -c
		}
		if c == 0 { // ties (and sort_by id) go by id, in the requested direction
			c = cmp.Compare(ua.ID, ub.ID)
			if desc {
				c = -c
			}
		}
		return c
	})
	s.cacheMu.Lock()
	if len(s.cache) >= 16 {
		clear(s.cache) // stale fleet versions pile up when tests mutate a lot
	}
	s.cache[k] = idx
	s.cacheMu.Unlock()
	return idx
}

func (s *Server) replyError(w http.ResponseWriter, status int, msg string) {
	writeBody(w, status, appendError(nil, msg))
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that went away is not the server's problem
}

// reply sends body, shaped by the fault if one applies. padAt is where an
// oversize fault may inject padding (-1: at the top level).
func (s *Server) reply(w http.ResponseWriter, r *http.Request, f Fault, faulted bool, body []byte, padAt int) {
	if !faulted {
		writeBody(w, http.StatusOK, body)
		return
	}
	if f.Hang {
		s.wait(r.Context(), -1)
	}
	s.wait(r.Context(), max(f.Latency, 0))
	status := http.StatusOK
	switch {
	case f.Status != 0:
		status = f.Status
		body = appendError(nil, "Simulated error "+strconv.Itoa(f.Status))
		padAt = -2
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
	case f.SuccessFalse:
		body = appendError(nil, "Simulated failure: the server could not complete the request")
		padAt = -2
	case f.Body != nil:
		body = f.Body
		padAt = -2
	}

	// The logical body is head + pad + tail; pad is streamed, never held.
	head, tail := body, []byte(nil)
	var pad int64
	if f.Oversize > int64(len(body)) && padAt != -2 {
		cut := padAt
		if cut < 0 { // no entry: pad a top-level member
			cut = 1
		}
		pre := append(append([]byte(nil), body[:cut]...), `"padding":"`...)
		post := append([]byte(`",`), body[cut:]...)
		if pad = f.Oversize - int64(len(pre)+len(post)); pad > 0 {
			head, tail = pre, post
		} else {
			pad = 0
		}
	}
	length := int64(len(head)) + pad + int64(len(tail))

	if f.Gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_ = writeStream(zw, head, pad, tail, length) // writes to memory do not fail
		_ = zw.Close()
		head, pad, tail, length = buf.Bytes(), 0, nil, int64(buf.Len())
		w.Header().Set("Content-Encoding", "gzip")
	}

	hd := w.Header()
	hd.Set("Content-Type", "application/json;charset=UTF-8")
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	w.WriteHeader(status)
	if !f.Truncate {
		_ = writeStream(w, head, pad, tail, length)
		return
	}
	_ = writeStream(w, head, pad, tail, length/2)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	// Abort: the connection is cut with the body short of its Content-Length.
	panic(http.ErrAbortHandler)
}

var padChunk = bytes.Repeat([]byte("x"), 32<<10)

// writeStream writes the first n bytes of head + pad×'x' + tail.
func writeStream(w io.Writer, head []byte, pad int64, tail []byte, n int64) error {
	write := func(p []byte) error {
		if n <= 0 {
			return nil
		}
		if int64(len(p)) > n {
			p = p[:n]
		}
		n -= int64(len(p))
		_, err := w.Write(p)
		return err
	}
	if err := write(head); err != nil {
		return err
	}
	for pad > 0 && n > 0 {
		c := padChunk[:min(pad, int64(len(padChunk)))]
		pad -= int64(len(c))
		if err := write(c); err != nil {
			return err
		}
	}
	return write(tail)
}
