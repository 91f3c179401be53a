package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/common/config"
	"golang.org/x/sync/errgroup"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// floorFetcher fetches exactly the requests a scrape makes (get_ous beside
// the first page, then the remaining pages with the same concurrency), over
// an HTTP client built the same way as the exporter's, and throws the
// bodies away unread. No exporter can read the list faster than this: it is
// the network, the server and HTTP, with no decoding at all.
type floorFetcher struct {
	http        *http.Client
	endpoint    string
	pageSize    int
	concurrency int
	firstBuf    bytes.Buffer
}

func newFloorFetcher(baseURL string, pageSize, concurrency int) (*floorFetcher, error) {
	hc := config.HTTPClientConfig{
		FollowRedirects: false,
		Authorization:   &config.Authorization{Type: "Bearer", Credentials: config.Secret(safeconsoletest.DefaultToken)},
	}
	c, err := config.NewClientFromConfig(hc, "safeconsole")
	if err != nil {
		return nil, fmt.Errorf("floor HTTP client: %w", err)
	}
	return &floorFetcher{http: c, endpoint: baseURL + safeconsoletest.APIPath, pageSize: pageSize, concurrency: concurrency}, nil
}

// fetch reads the whole list and returns the number of requests made.
func (f *floorFetcher) fetch(ctx context.Context) (int, error) {
	ous := make(chan error, 1)
	go func() {
		_, err := f.do(ctx, http.MethodGet, safeconsole.ActionOUs, nil, nil)
		ous <- err
	}()
	f.firstBuf.Reset()
	if _, err := f.do(ctx, http.MethodPost, safeconsoletest.DefaultListAction, f.body(0), &f.firstBuf); err != nil {
		return 0, err
	}
	total, err := leadingTotal(f.firstBuf.Bytes())
	if err != nil {
		return 0, err
	}
	pages := int((total + int64(f.pageSize) - 1) / int64(f.pageSize))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.concurrency)
	for i := 1; i < pages; i++ {
		g.Go(func() error {
			_, err := f.do(gctx, http.MethodPost, safeconsoletest.DefaultListAction, f.body(i), nil)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if err := <-ous; err != nil {
		return 0, err
	}
	return 1 + max(pages, 1), nil
}

// body is the list request the exporter sends for page i.
func (f *floorFetcher) body(i int) []byte {
	return []byte(`{"limit":` + strconv.Itoa(f.pageSize) + `,"start":` + strconv.Itoa(i*f.pageSize) +
		`,"sort_by":"last_login","sort_order":"DESC","keyword":"search_all"}`)
}

// do performs one request; the answer goes to keep when it is not nil and
// is discarded otherwise.
func (f *floorFetcher) do(ctx context.Context, method, action string, body []byte, keep *bytes.Buffer) (int64, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.endpoint+"?action="+action, rd)
	if err != nil {
		return 0, fmt.Errorf("floor request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("floor %s: %w", action, err)
	}
	defer resp.Body.Close()
	var n int64
	if keep != nil {
		n, err = keep.ReadFrom(resp.Body)
	} else {
		n, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return n, fmt.Errorf("floor %s: reading: %w", action, err)
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("floor %s: HTTP %d", action, resp.StatusCode)
	}
	return n, nil
}

// leadingTotal reads `"total":N` from the start of a list answer, where the
// simulator writes it, without decoding the page.
func leadingTotal(b []byte) (int64, error) {
	const key = `"total":`
	i := bytes.Index(b[:min(len(b), 64)], []byte(key))
	if i < 0 {
		return 0, fmt.Errorf("floor: no %s near the start of the first page", key)
	}
	j := i + len(key)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	n, err := strconv.ParseInt(string(b[j:k]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("floor: total: %w", err)
	}
	return n, nil
}
