package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// TestRunSmall runs the whole harness on small fleets without latency: the
// simulator child, the floor, both exporters, the ground-truth checks, the
// decoder comparison and the sweep. It asserts what the run must agree on,
// never how fast it was.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts simulator processes")
	}
	rep, err := Run(Config{
		Sizes: []int{300, 2500}, Latency: time.Millisecond, PageSize: 100, Concurrency: 3, Runs: 2,
		DecoderRounds: 1, SweepSize: 300, SweepPageSizes: []int{50, 1000}, SweepConcurrency: []int{1, 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sizes) != 3 || rep.Sizes[1].Padded || !rep.Sizes[2].Padded || rep.Sizes[2].Drives != 2500 {
		t.Fatalf("%d sizes reported, want 2 seed-shaped and the largest again padded", len(rep.Sizes))
	}
	for _, s := range rep.Sizes {
		if s.Requests != 1+s.Pages || s.SimRequests != int64(s.Requests) {
			t.Errorf("%d drives: %d pages, %d requests counted, %d served; want pages+1 everywhere", s.Drives, s.Pages, s.Requests, s.SimRequests)
		}
		if len(s.Off) != 2 || len(s.On) != 2 || len(s.FloorWall) != 2 {
			t.Errorf("%d drives: %d/%d/%d measurements, want 2 each", s.Drives, len(s.Off), len(s.On), len(s.FloorWall))
		}
		for _, r := range s.On {
			if r.bytes <= s.Off[0].bytes {
				t.Errorf("%d drives: exposition with per-drive series (%d bytes) not larger than without (%d)", s.Drives, r.bytes, s.Off[0].bytes)
			}
		}
	}
	if len(rep.Decoders) != 2 || len(rep.Decoders[0].Results) != 3 || rep.Decoders[0].Results[0].drives != rep.Sizes[1].Drives ||
		rep.Decoders[0].Padded || !rep.Decoders[1].Padded {
		t.Errorf("decoder comparison = %+v, want 3 decoders on the 2500-drive fleet, seed-shaped and padded", rep.Decoders)
	}
	if len(rep.Sweep) != 4 || rep.Sweep[0].Requests <= rep.Sweep[2].Requests {
		t.Errorf("sweep = %+v, want 4 settings, smaller pages making more requests", rep.Sweep)
	}
	var md strings.Builder
	rep.WriteMarkdown(&md, "scbench -test")
	for _, want := range []string{"Command: `scbench -test`", "| 2500 | seed |", "| 2500 | padded |", "encoding/json", "| 50 | 2 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}

func TestLeadingTotal(t *testing.T) {
	if n, err := leadingTotal([]byte(`{"total":16481,"success":true`)); err != nil || n != 16481 {
		t.Errorf("leadingTotal = %d, %v", n, err)
	}
	if _, err := leadingTotal([]byte(`{"success":true}`)); err == nil {
		t.Error("leadingTotal accepted an answer without a total")
	}
}

// TestVerifyCatchesDifferences makes sure the ground-truth check can fail:
// a scrape of one fleet must not pass as another's, and per-drive series
// must be there exactly when asked for.
func TestVerifyCatchesDifferences(t *testing.T) {
	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 7, Devices: 400})
	srv := safeconsoletest.NewServer(fleet)
	defer srv.Close()
	e, err := newExporter(srv.URL, 100, 2, true, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := e.scrape(&buf, false); err != nil {
		t.Fatal(err)
	}
	if err := newGroundTruth(fleet).verify(buf.Bytes(), true); err != nil {
		t.Fatalf("the scrape of the served fleet does not verify: %v", err)
	}
	if err := newGroundTruth(fleet).verify(buf.Bytes(), false); err == nil {
		t.Error("per-drive series passed as absent")
	}
	other := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 8, Devices: 400})
	if err := newGroundTruth(other).verify(buf.Bytes(), true); err == nil {
		t.Error("a scrape of one fleet passed as another fleet's")
	}
	// One drive changed on the server: the fleet gauges still add up, the
	// per-drive series must not.
	fleet.Mutate(func(f *safeconsoletest.Fleet) { f.Users[3].Devices[0].Online = !f.Users[3].Devices[0].Online })
	buf.Reset()
	if _, err := e.scrape(&buf, false); err != nil {
		t.Fatal(err)
	}
	truth := newGroundTruth(fleet)
	fleet.Mutate(func(f *safeconsoletest.Fleet) { f.Users[3].Devices[0].Online = !f.Users[3].Devices[0].Online })
	if err := truth.verify(buf.Bytes(), true); err != nil {
		t.Fatalf("the changed fleet does not verify against itself: %v", err)
	}
	if err := newGroundTruth(fleet).verify(buf.Bytes(), true); err == nil {
		t.Error("a drive's changed online state went unnoticed")
	}
}
