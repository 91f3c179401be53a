package bench

import (
	"sync"
	"testing"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

var (
	benchPagesOnce sync.Once
	benchPages     [][]byte
	benchDrives    int
	benchBytes     int64
	benchPagesErr  error
)

// pagesForBench captures the pages of a 10,000-drive fleet once.
func pagesForBench(b *testing.B) [][]byte {
	benchPagesOnce.Do(func() {
		f := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 1, Devices: 10000})
		benchDrives = f.DeviceCount()
		s := safeconsoletest.NewServer(f)
		defer s.Close()
		benchPages, benchPagesErr = FetchPages(s.URL, safeconsoletest.DefaultToken, safeconsole.DefaultPageSize)
		for _, p := range benchPages {
			benchBytes += int64(len(p))
		}
	})
	if benchPagesErr != nil {
		b.Fatal(benchPagesErr)
	}
	return benchPages
}

// BenchmarkDecodeExporter and BenchmarkDecodeEncodingJSON decode the same
// pages; an op is the whole 10,000-drive list.
func BenchmarkDecodeExporter(b *testing.B) {
	pages := pagesForBench(b)
	d := safeconsole.NewPageDecoder(false)
	var p safeconsole.Page
	b.SetBytes(benchBytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range pages {
			if err := d.Decode(body, &p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchDrives), "ns/drive")
}

func BenchmarkDecodeEncodingJSON(b *testing.B) {
	pages := pagesForBench(b)
	b.SetBytes(benchBytes)
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range pages {
			if _, err := decodeStd(body); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchDrives), "ns/drive")
}
