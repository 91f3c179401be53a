package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// FetchPages reads the whole user list of the simulator at baseURL in pages
// of pageSize, one request at a time, and returns the answer bodies as
// served. The decoder benchmarks replay them, so that they measure parsing
// on the exact bytes a scrape receives.
func FetchPages(baseURL, token string, pageSize int) ([][]byte, error) {
	var pages [][]byte
	for start := 0; ; start += pageSize {
		body := `{"limit":` + strconv.Itoa(pageSize) + `,"start":` + strconv.Itoa(start) +
			`,"sort_by":"last_login","sort_order":"DESC","keyword":"search_all"}`
		req, err := http.NewRequest(http.MethodPost, baseURL+safeconsoletest.APIPath+"?action="+safeconsoletest.DefaultListAction, bytes.NewReader([]byte(body)))
		if err != nil {
			return nil, fmt.Errorf("building page request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetching page at %d: %w", start, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading page at %d: %w", start, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("page at %d: HTTP %d", start, resp.StatusCode)
		}
		var head struct {
			Total    int               `json:"total"`
			Response []json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("page at %d: %w", start, err)
		}
		if len(head.Response) == 0 {
			return pages, nil
		}
		pages = append(pages, b)
		if start+len(head.Response) >= head.Total {
			return pages, nil
		}
	}
}
