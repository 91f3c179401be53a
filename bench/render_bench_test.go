package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/internal/metricshttp"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// BenchmarkRender answers /metrics from one collection of a 100,000-drive
// fleet, again and again: the rendering alone, without the list pass. An
// op is one whole exposition.
func BenchmarkRender(b *testing.B) {
	for _, c := range []struct {
		name          string
		devices, gzip bool
	}{{"devices=off", false, false}, {"devices=on", true, false}, {"devices=on,gzip", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			f := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 1, Devices: 100000})
			s := safeconsoletest.NewServer(f)
			defer s.Close()
			e, err := newExporter(s.URL, 0, 0, c.devices, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			scrape := e.coll.Scrape(context.Background())
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept", "text/plain;version=0.0.4")
			if c.gzip {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			var serveErr error
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := &countingWriter{h: http.Header{}}
				metricshttp.Serve(w, req, scrape, e.own, failLogger{&serveErr})
				b.SetBytes(w.n)
			}
			if serveErr != nil {
				b.Fatal(serveErr)
			}
		})
	}
}
