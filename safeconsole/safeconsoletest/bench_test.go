package safeconsoletest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// BenchmarkServePage measures the handler's CPU for one page of 100 entries
// from a 100,000-drive fleet, without the network.
func BenchmarkServePage(b *testing.B) {
	s := NewServer(NewFleet(FleetOptions{Seed: 1, Devices: 100000}))
	defer s.Close()
	body := []byte(`{"limit":100,"start":5000,"sort_by":"last_login","sort_order":"DESC","keyword":"search_all"}`)
	rd := bytes.NewReader(body)
	req := httptest.NewRequest("POST", APIPath+"?action="+DefaultListAction, rd)
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	w := &discardWriter{h: http.Header{}}
	s.ServeHTTP(w, req) // fills the sort cache, as the first page of a scrape does
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		w.n = 0
		s.ServeHTTP(w, req)
	}
	b.SetBytes(int64(w.n))
}

// BenchmarkServePageHTTP is the same page through a real loopback client.
func BenchmarkServePageHTTP(b *testing.B) {
	s := NewServer(NewFleet(FleetOptions{Seed: 1, Devices: 100000}))
	defer s.Close()
	body := `{"limit":100,"start":5000}`
	b.ReportAllocs()
	for b.Loop() {
		call(b, s, "POST", DefaultListAction, body)
	}
}

// BenchmarkFullList reads all of a 100,000-drive fleet in pages of 1000.
func BenchmarkFullList(b *testing.B) {
	f := NewFleet(FleetOptions{Seed: 1, Devices: 100000})
	s := NewServer(f)
	defer s.Close()
	n := len(f.Users)
	for b.Loop() {
		for start := 0; start < n; start += 1000 {
			call(b, s, "POST", DefaultListAction, `{"limit":1000,"start":`+itoa(start)+`}`)
		}
	}
}

func BenchmarkNewFleet100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewFleet(FleetOptions{Seed: 1, Devices: 100000})
	}
}

func BenchmarkTally100k(b *testing.B) {
	f := NewFleet(FleetOptions{Seed: 1, Devices: 100000})
	b.ReportAllocs()
	for b.Loop() {
		f.Tally(TallyOptions{MinimumVersion: "6.10.0"})
	}
}
