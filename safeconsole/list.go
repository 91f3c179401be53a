package safeconsole

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// ScanResult describes one pass over the list.
type ScanResult struct {
	// OUs maps OU ids to paths; nil when get_ous failed (OUsErr says why),
	// in which case callers fall back to the numeric id.
	OUs    map[int64]string
	OUsErr error
	// OUsStale says OUs come from an earlier scan, because get_ous had
	// not answered when the list was read.
	OUsStale bool

	Requests   int   // HTTP requests this scan made, retries included
	Pages      int   // list pages read
	FirstTotal int64 // `total` on the first page
	LastTotal  int64 // `total` on the latest page asked for
	Users      int   // distinct users delivered
	Devices    int   // distinct drives delivered
	// Duplicates counts entries dropped because their user id or drive
	// serial had already been delivered (pages shifting while paging).
	DuplicateUsers   int
	DuplicateDevices int
}

// Shifted reports whether the list changed while it was being paged.
func (r *ScanResult) Shifted() bool { return r.FirstTotal != r.LastTotal }

// VisitFunc receives each page with duplicates already removed. Calls are
// serialised; the page and its strings' backing slices are reused after it
// returns, so it must copy what it keeps (strings may be kept as they are).
type VisitFunc func(p *Page)

// listRequest is the list action's body, as in the vendor's example.
type listRequest struct {
	Limit     int    `json:"limit"`
	Start     int64  `json:"start"`
	SortBy    string `json:"sort_by"`
	SortOrder string `json:"sort_order"`
	Keyword   string `json:"keyword"`
}

// worker holds what one concurrent page fetch reuses.
type worker struct {
	dec  *PageDecoder
	page Page
}

// scan is the state of one Scan call.
type scan struct {
	c        *Client
	pageSize int // effective: the server may cap `limit`
	visit    VisitFunc
	redact   string
	requests atomic.Int64
	// slots bounds the requests in flight (Config.Concurrency); they are
	// taken in page order, so the server is asked for pages in order. A
	// page is decoded and delivered after its request has handed its slot
	// on, so the next request does not wait for the decoding; workers
	// (decoders) number twice the slots.
	slots   chan struct{}
	workers chan *worker

	mu       sync.Mutex
	res      ScanResult
	dedupe   *Deduper
	lastPage int // index of the latest page delivered; its total is LastTotal
}

// Scan reads OU names and pages through the whole list, calling visit for
// each page. The first page tells the total; the remaining pages are then
// fetched concurrently (Config.Concurrency at most), all within ctx's
// deadline. Entries are deduplicated by user id and drive serial, paging
// stops after a bounded number of pages whatever the server claims, and an
// error is returned when the distinct entries do not add up to the total
// the server reported last.
func (c *Client) Scan(ctx context.Context, visit VisitFunc) (*ScanResult, error) {
	tok, err := c.token()
	if err != nil {
		return &ScanResult{}, err
	}
	s := &scan{
		c:       c,
		visit:   visit,
		redact:  tok,
		slots:   make(chan struct{}, c.cfg.Concurrency),
		workers: make(chan *worker, 2*c.cfg.Concurrency),
	}
	for i := 0; i < 2*c.cfg.Concurrency; i++ {
		s.workers <- &worker{dec: NewPageDecoder(c.cfg.WantOwner)}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// OU names are fetched beside the first page; their failure is not the
	// scan's (ids stand in for names).
	ouCtx, cancelOUs := context.WithCancel(ctx)
	defer cancelOUs()
	ouDone := make(chan struct{})
	go func() {
		defer close(ouDone)
		s.res.OUs, s.res.OUsErr = c.ous(ouCtx, &s.requests, tok)
	}()
	err = s.run(ctx)
	if err != nil {
		cancelOUs() // do not wait on get_ous for a failed scan
	}
	select {
	case <-ouDone:
	default:
		// The list is read but the OU names are late. OUs seldom change:
		// names from an earlier scan serve rather than holding the scrape
		// to its deadline; without any, wait (ids would be worse).
		if last := c.lastOUs.Load(); last != nil {
			cancelOUs()
			<-ouDone
			s.res.OUs, s.res.OUsErr = *last, nil
			s.res.OUsStale = true
		} else {
			<-ouDone
		}
	}
	if s.res.OUsErr == nil && !s.res.OUsStale {
		// A copy of the map header: a pointer into s.res would keep the
		// whole scan, dedupe sets included, alive until the next one.
		ous := s.res.OUs
		c.lastOUs.Store(&ous)
	}
	s.res.Requests = int(s.requests.Load())
	return &s.res, err
}

func (s *scan) run(ctx context.Context) error {
	s.pageSize = s.c.cfg.PageSize
	s.lastPage = -1
	first, err := s.fetch(ctx, 0)
	if err != nil {
		return err
	}
	s.res.FirstTotal = first.total
	// A server may cap `limit`: then the first page's length is the real
	// page size, as long as it was short of the total. Later offsets follow
	// it, so no entry falls between pages.
	if first.entries > 0 && first.entries < s.pageSize && first.total > int64(first.entries) {
		s.pageSize = first.entries
	}
	planned := 1
	if first.entries > 0 {
		planned = int((first.total + int64(s.pageSize) - 1) / int64(s.pageSize))
	}
	if planned > 1 {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(2 * s.c.cfg.Concurrency) // see scan.slots
		abandoned := false
		for i := 1; i < planned; i++ {
			// Once a page failed or the deadline passed, the rest of the
			// plan is abandoned: a server claiming millions of one-entry
			// pages would otherwise keep the scan starting fetches that
			// fail at once, long after the scrape's deadline.
			if !s.takeSlot(gctx) {
				abandoned = true
				break
			}
			g.Go(func() error {
				_, err := s.fetchInSlot(gctx, i)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		if abandoned {
			// No fetch failed: the deadline passed while waiting for a slot.
			return s.timeoutError()
		}
	}

	// The list may have grown while it was paged: new entries push old ones
	// onto a page past the planned ones. Follow while the distinct entries
	// fall short of the latest total and pages bring new ones, a bounded
	// number of times, so a server that lies about its total or repeats
	// pages cannot keep the scan going.
	maxExtra := 1 + planned/10
	for next, extra := planned, 0; extra < maxExtra; next, extra = next+1, extra+1 {
		s.mu.Lock()
		behind := int64(s.res.Users) < s.res.LastTotal
		s.mu.Unlock()
		if !behind {
			break
		}
		r, err := s.fetch(ctx, next)
		if err != nil {
			return err
		}
		if r.newUsers == 0 {
			break
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(s.res.Users) != s.res.LastTotal {
		return &Error{Action: s.c.cfg.ListAction, Kind: KindInconsistent,
			Err: fmt.Errorf("server reported %d entries but served %d distinct ones in %d pages (%d duplicates dropped)",
				s.res.LastTotal, s.res.Users, s.res.Pages, s.res.DuplicateUsers)}
	}
	return nil
}

type pageResult struct {
	total    int64
	entries  int // entries on the page as served
	newUsers int // entries not seen before
}

// takeSlot waits for a free request slot; false when ctx ended first.
func (s *scan) takeSlot(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case s.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *scan) timeoutError() error {
	return &Error{Action: s.c.cfg.ListAction, Kind: KindTimeout, Err: errors.New("no answer before the scrape deadline")}
}

// fetch reads page index i, decodes, deduplicates and delivers it.
func (s *scan) fetch(ctx context.Context, i int) (pageResult, error) {
	if !s.takeSlot(ctx) {
		return pageResult{}, s.timeoutError()
	}
	return s.fetchInSlot(ctx, i)
}

// fetchInSlot is fetch with a request slot already taken; it frees it
// once the answer is read.
func (s *scan) fetchInSlot(ctx context.Context, i int) (pageResult, error) {
	cfg := &s.c.cfg
	req := listRequest{Limit: s.pageSize, SortBy: cfg.SortBy, SortOrder: cfg.SortOrder, Keyword: cfg.Keyword}
	if cfg.Paging == PagingNumber {
		req.Start = int64(i)
	} else {
		req.Start = int64(i) * int64(s.pageSize)
	}
	body, err := json.Marshal(req)
	if err != nil {
		<-s.slots
		return pageResult{}, fmt.Errorf("encoding list request: %w", err)
	}
	buf := s.c.getBuf()
	defer s.c.putBuf(buf)
	err = s.c.call(ctx, &s.requests, cfg.ListAction, http.MethodPost, body, buf, s.redact)
	<-s.slots
	if err != nil {
		return pageResult{}, err
	}
	// Never waits: there are as many workers as fetches can run at once.
	w := <-s.workers
	defer func() { s.workers <- w }()
	if err := w.dec.Decode(buf.Bytes(), &w.page); err != nil {
		return pageResult{}, s.decodeError(err, i)
	}
	return s.deliver(&w.page, i), nil
}

func (s *scan) decodeError(err error, page int) error {
	action := s.c.cfg.ListAction
	var ns *NotSuccessError
	if errors.As(err, &ns) {
		kind := KindNotSuccess
		if isUnknownActionMessage(errors.New(ns.Message)) {
			kind = KindUnknownAction
		}
		return &Error{Action: action, Kind: kind, Err: fmt.Errorf("page %d: %w", page,
			&NotSuccessError{Message: sanitizeMessage(ns.Message, s.redact)})}
	}
	return &Error{Action: action, Kind: KindProtocol, Err: fmt.Errorf("page %d: %w", page, err)}
}

// deliver drops entries already seen and hands the rest to visit. Pages
// may be delivered out of order; the total of the latest page asked for
// is the one the list must add up to.
func (s *scan) deliver(p *Page, index int) pageResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := pageResult{total: p.Total, entries: len(p.Users)}
	s.res.Pages++
	if index >= s.lastPage {
		s.res.LastTotal, s.lastPage = p.Total, index
	}

	if s.dedupe == nil {
		s.dedupe = NewDeduper(p.Total)
	}
	dupUsers, dupDevices := s.dedupe.Page(p)
	s.res.DuplicateUsers += dupUsers
	s.res.DuplicateDevices += dupDevices
	r.newUsers = len(p.Users)
	s.res.Users += len(p.Users)
	s.res.Devices += len(p.Devices)
	if s.visit != nil {
		s.visit(p)
	}
	return r
}

// ous reads OU names. A refusal is returned as is: the caller falls back to
// numeric ids.
func (c *Client) ous(ctx context.Context, counter *atomic.Int64, redact string) (map[int64]string, error) {
	buf := c.getBuf()
	defer c.putBuf(buf)
	if err := c.call(ctx, counter, ActionOUs, http.MethodGet, nil, buf, redact); err != nil {
		return nil, err
	}
	ous, err := DecodeOUs(buf.Bytes())
	if err != nil {
		kind := KindProtocol
		var ns *NotSuccessError
		if errors.As(err, &ns) {
			kind = KindNotSuccess
			err = &NotSuccessError{Message: sanitizeMessage(ns.Message, redact)}
		}
		return nil, &Error{Action: ActionOUs, Kind: kind, Err: err}
	}
	return ous, nil
}
