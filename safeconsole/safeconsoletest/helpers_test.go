package safeconsoletest

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"strconv"
	"testing"
)

// call sends one API request with the default token and returns status and body.
func call(t testing.TB, s *Server, method, action, body string) (*http.Response, []byte) {
	t.Helper()
	return callWith(t, s, s.Client(), DefaultToken, method, action, body)
}

func callWith(t testing.TB, s *Server, c *http.Client, token, method, action, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, s.URL+APIPath+"?action="+action, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, action, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, action, err)
	}
	return resp, b
}

type listPage struct {
	Total    int              `json:"total"`
	Success  bool             `json:"success"`
	Message  string           `json:"message"`
	Response []map[string]any `json:"response"`
}

// list fetches one page and fails the test unless it is a 200 JSON answer.
func list(t testing.TB, s *Server, body string) listPage {
	t.Helper()
	resp, b := call(t, s, http.MethodPost, DefaultListAction, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list %s: status %d: %s", body, resp.StatusCode, b)
	}
	var p listPage
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("list %s: invalid JSON: %v", body, err)
	}
	return p
}

func ids(p listPage) []int64 {
	out := make([]int64, len(p.Response))
	for i, e := range p.Response {
		out[i] = int64(e["id"].(float64))
	}
	return out
}

func logTo(w io.Writer) *log.Logger { return log.New(w, "", 0) }

func itoa(n int) string { return strconv.Itoa(n) }
