package safeconsoletest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func faultServer(t *testing.T, opts ...Option) (*Server, *Fleet) {
	t.Helper()
	f := NewFleet(FleetOptions{Seed: 21, Devices: 100})
	s := NewServer(f, opts...)
	t.Cleanup(s.Close)
	return s, f
}

func pageBody(start int) string { return fmt.Sprintf(`{"limit":10,"start":%d}`, start) }

func TestFaultStatusTimesAndRetryAfter(t *testing.T) {
	s, _ := faultServer(t)
	s.AddFault(Fault{Action: DefaultListAction, Page: AnyPage, Times: 2, Status: 429, RetryAfter: "7"})
	for i := range 3 {
		resp, b := call(t, s, "POST", DefaultListAction, pageBody(0))
		want := 429
		if i == 2 {
			want = 200
		}
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
		if want == 429 {
			var e listPage
			if resp.Header.Get("Retry-After") != "7" || json.Unmarshal(b, &e) != nil || e.Success {
				t.Errorf("429 answer: Retry-After %q body %s", resp.Header.Get("Retry-After"), b)
			}
		}
	}
	if got := s.Requests(DefaultListAction); got != 3 {
		t.Errorf("faulted requests not counted: %d", got)
	}
}

func TestFaultSelection(t *testing.T) {
	for _, c := range []struct {
		name   string
		paging Paging
		start  func(page int) int
	}{
		{"offset", PageByOffset, func(p int) int { return p * 10 }},
		{"number", PageByNumber, func(p int) int { return p }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := faultServer(t, WithPaging(c.paging))
			s.AddFault(Fault{Action: "get_ous", Page: AnyPage, Status: 503})
			s.AddFault(Fault{Page: 2, Status: 500})
			s.AddFault(Fault{Page: 2, Status: 502}) // shadowed by the one before
			var got []int
			for p := range 4 {
				resp, _ := call(t, s, "POST", DefaultListAction, pageBody(c.start(p)))
				got = append(got, resp.StatusCode)
			}
			if !slices.Equal(got, []int{200, 200, 500, 200}) {
				t.Errorf("statuses by page %v", got)
			}
			if resp, _ := call(t, s, "GET", "get_ous", ""); resp.StatusCode != 503 {
				t.Errorf("get_ous: %d", resp.StatusCode)
			}
			s.ClearFaults()
			if resp, _ := call(t, s, "POST", DefaultListAction, pageBody(c.start(2))); resp.StatusCode != 200 {
				t.Errorf("after ClearFaults: %d", resp.StatusCode)
			}
		})
	}
}

func TestFaultBodies(t *testing.T) {
	s, _ := faultServer(t)
	s.AddFault(Fault{Page: 0, Times: 1, Body: []byte(`<html>maintenance</html>`)})
	s.AddFault(Fault{Page: 0, Times: 1, SuccessFalse: true})
	resp, b := call(t, s, "POST", DefaultListAction, pageBody(0))
	if resp.StatusCode != 200 || string(b) != `<html>maintenance</html>` {
		t.Errorf("Body fault: %d %s", resp.StatusCode, b)
	}
	resp, b = call(t, s, "POST", DefaultListAction, pageBody(0))
	var e listPage
	if resp.StatusCode != 200 || json.Unmarshal(b, &e) != nil || e.Success || e.Message == "" {
		t.Errorf("SuccessFalse fault: %d %s", resp.StatusCode, b)
	}
}

func TestFaultTruncate(t *testing.T) {
	for _, gz := range []bool{false, true} {
		s, _ := faultServer(t)
		s.AddFault(Fault{Page: AnyPage, Truncate: true, Gzip: gz})
		req, _ := http.NewRequest("POST", s.URL+APIPath+"?action="+DefaultListAction, strings.NewReader(pageBody(0)))
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || resp.StatusCode != 200 {
			t.Errorf("gzip %v: truncated body read without error (%d bytes, status %d)", gz, len(b), resp.StatusCode)
		}
		if !gz && (resp.ContentLength <= int64(len(b)) || len(b) == 0) {
			t.Errorf("Content-Length %d, read %d: want the full length announced and part of it sent", resp.ContentLength, len(b))
		}
	}
}

func TestFaultLatencyAndHang(t *testing.T) {
	for _, f := range []Fault{{Page: AnyPage, Latency: time.Hour}, {Page: AnyPage, Hang: true}} {
		s, _ := faultServer(t)
		s.AddFault(f)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+APIPath+"?action="+DefaultListAction, strings.NewReader(pageBody(0)))
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		_, err := s.Client().Do(req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%+v: want a deadline error, got %v", f, err)
		}
		// The server is still usable, and Close does not wait for the held answer.
		s.ClearFaults()
		if resp, _ := call(t, s, "POST", DefaultListAction, pageBody(0)); resp.StatusCode != 200 {
			t.Errorf("after the fault: %d", resp.StatusCode)
		}
	}
	// A held answer ends when the server closes, even if the client waits on.
	s, _ := faultServer(t)
	s.AddFault(Fault{Page: AnyPage, Hang: true})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", s.URL+APIPath+"?action="+DefaultListAction, strings.NewReader(pageBody(0)))
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.RequestsTotal() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if err := <-done; err == nil {
		t.Error("hung request got an answer")
	}
}

func TestFaultShortLatencyAnswers(t *testing.T) {
	s, _ := faultServer(t, WithLatency(time.Millisecond))
	s.AddFault(Fault{Page: AnyPage, Latency: time.Millisecond})
	if p := list(t, s, pageBody(0)); len(p.Response) != 10 {
		t.Errorf("delayed answer has %d entries", len(p.Response))
	}
}

func TestFaultDataLies(t *testing.T) {
	s, f := faultServer(t)
	p1 := list(t, s, pageBody(10))
	s.AddFault(Fault{Page: 3, Times: 1, TotalDelta: 5})
	s.AddFault(Fault{Page: 2, Times: 1, RepeatPage: 1})
	s.AddFault(Fault{Page: 4, Times: 1, RepeatPage: RepeatFirstPage, TotalDelta: -3})
	if p := list(t, s, pageBody(30)); p.Total != len(f.Users)+5 {
		t.Errorf("TotalDelta: total %d, want %d", p.Total, len(f.Users)+5)
	}
	if p := list(t, s, pageBody(20)); !slices.Equal(ids(p), ids(p1)) {
		t.Errorf("RepeatPage 1 served %v, want page 1 %v", ids(p), ids(p1))
	}
	p0 := list(t, s, pageBody(0))
	if p := list(t, s, pageBody(40)); !slices.Equal(ids(p), ids(p0)) || p.Total != len(f.Users)-3 {
		t.Errorf("RepeatFirstPage served %v total %d, want page 0 %v", ids(p), p.Total, ids(p0))
	}
}

func TestFaultOversize(t *testing.T) {
	s, f := faultServer(t)
	const size = 3 << 20
	s.AddFault(Fault{Page: AnyPage, Oversize: size})
	for _, start := range []int{0, 100000} {
		resp, b := call(t, s, "POST", DefaultListAction, pageBody(start))
		if len(b) != size || resp.ContentLength != size {
			t.Fatalf("start %d: body %d bytes, Content-Length %d, want %d", start, len(b), resp.ContentLength, size)
		}
		var p listPage
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("start %d: padded body is not valid JSON: %v", start, err)
		}
		if p.Total != len(f.Users) {
			t.Errorf("start %d: total %d", start, p.Total)
		}
		if start == 0 && (len(p.Response) != 10 || len(p.Response[0]["padding"].(string)) < size-100000) {
			t.Errorf("padding is not in the first entry")
		}
	}
}

func TestFaultGzip(t *testing.T) {
	s, _ := faultServer(t)
	_, plain := call(t, s, "POST", DefaultListAction, pageBody(0))
	s.AddFault(Fault{Page: AnyPage, Gzip: true})

	// Go's client asks for gzip and decodes it itself.
	if _, b := call(t, s, "POST", DefaultListAction, pageBody(0)); !bytes.Equal(b, plain) {
		t.Error("transparently decoded gzip body differs")
	}
	// A client that did not ask still gets gzip.
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, b := callWith(t, s, c, DefaultToken, "POST", DefaultListAction, pageBody(0))
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, plain) {
		t.Errorf("gunzipped body differs (err %v)", err)
	}
}
