// Package bench measures the exporter at fleet scale against the simulated
// SafeConsole server: scrape wall time against the fetch floor, the
// exporter's CPU and allocations per drive, the heap a scrape needs, the
// exposition's size and rendering time, and the exporter's decoder against
// encoding/json. cmd/scbench is its command line; `make bench` runs it.
//
// Every scrape it measures is also checked against the simulator's ground
// truth (safeconsoletest.Fleet.Tally): a fast wrong answer fails the run.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// Config selects what Run measures.
type Config struct {
	Sizes []int // fleet sizes in drives, answers in the seed's shape
	// PaddedSizes are measured again with padded answers: every user and
	// drive also carries members the vendor's example does not show,
	// about twice the bytes (safeconsoletest's default). nil: the largest
	// of Sizes; empty: none.
	PaddedSizes []int
	Latency     time.Duration // injected per request by the simulator
	PageSize    int           // 0: safeconsole.DefaultPageSize
	Concurrency int           // 0: safeconsole.DefaultConcurrency
	Runs        int           // measured scrapes per size and setting; medians are reported
	Seed        int64         // fleet seed
	Timeout     time.Duration // per scrape; generous, this measures rather than enforces

	// DecoderSize is the fleet whose pages the decoders are compared on
	// (0: the largest of Sizes); DecoderRounds how many times each decodes
	// them (the least CPU is kept).
	DecoderSize   int
	DecoderRounds int

	// SweepPageSizes x SweepConcurrency are scraped at SweepSize drives
	// (per-drive series off) to show the trade-off between API requests
	// and scrape time; empty: no sweep.
	SweepSize        int
	SweepPageSizes   []int
	SweepConcurrency []int
	SweepRuns        int

	Log io.Writer // progress; nil: none
}

func (c *Config) defaults() {
	if len(c.Sizes) == 0 {
		c.Sizes = []int{1000, 10000, 100000}
	}
	if c.PageSize == 0 {
		c.PageSize = safeconsole.DefaultPageSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = safeconsole.DefaultConcurrency
	}
	if c.Runs <= 0 {
		c.Runs = 5
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.PaddedSizes == nil {
		c.PaddedSizes = []int{slices.Max(c.Sizes)}
	}
	if c.DecoderSize == 0 {
		for _, n := range c.Sizes {
			c.DecoderSize = max(c.DecoderSize, n)
		}
	}
	if c.DecoderRounds <= 0 {
		c.DecoderRounds = 5
	}
	if c.SweepRuns <= 0 {
		c.SweepRuns = 1
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// SizeResult is everything measured at one fleet size.
type SizeResult struct {
	Padded               bool // answers padded beyond the seed's shape
	Drives, Users, Pages int
	Requests             int   // per scrape, as the exporter counted them
	SimRequests          int64 // per scrape, as the simulator counted them
	FloorWall, FloorCPU  []time.Duration
	FloorPeakHeap        []uint64
	Off, On              []scrapeResult
	OnGzip               []scrapeResult // per-drive series on, gzip asked for
	IdleHeap             []uint64
	SimCPU               []time.Duration // the simulator's CPU per scrape (per-drive series off)
}

// SweepResult is one page size x concurrency setting.
type SweepResult struct {
	PageSize, Concurrency int
	Requests              int
	Wall                  time.Duration // median
}

// Report is the outcome of Run.
type Report struct {
	Config   Config
	Machine  Machine
	Sizes    []SizeResult
	Decoders []DecoderSet
	Sweep    []SweepResult
	Started  time.Time
	Took     time.Duration
}

// DecoderSet is the decoder comparison on one shape of answers.
type DecoderSet struct {
	Padded  bool
	Pages   int
	Results []decoderResult
}

// Run measures every configured size, checking each scrape's result against
// the ground truth. The process must have called MaybeServeSimulator first.
func Run(cfg Config) (*Report, error) {
	cfg.defaults()
	rep := &Report{Config: cfg, Machine: describeMachine(), Started: time.Now()}
	for _, n := range cfg.Sizes {
		sr, err := runSize(&cfg, n, false, rep)
		if err != nil {
			return nil, fmt.Errorf("%d drives: %w", n, err)
		}
		rep.Sizes = append(rep.Sizes, *sr)
	}
	for _, n := range cfg.PaddedSizes {
		sr, err := runSize(&cfg, n, true, rep)
		if err != nil {
			return nil, fmt.Errorf("%d drives, padded answers: %w", n, err)
		}
		rep.Sizes = append(rep.Sizes, *sr)
	}
	rep.Machine.LoadEnd = loadAverage()
	rep.Took = time.Since(rep.Started)
	return rep, nil
}

func logf(cfg *Config, format string, args ...any) {
	fmt.Fprintf(cfg.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func runSize(cfg *Config, n int, padded bool, rep *Report) (*SizeResult, error) {
	logf(cfg, "%d drives: starting the simulator (latency %v, padded answers %v)", n, cfg.Latency, padded)
	sim, err := startSimulator(n, cfg.Latency, cfg.Seed, padded)
	if err != nil {
		return nil, err
	}
	defer sim.Close()

	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: cfg.Seed, Devices: n})
	truth := newGroundTruth(fleet)
	sr := &SizeResult{Padded: padded, Drives: truth.devices, Users: truth.users}
	sr.Pages = (truth.users + cfg.PageSize - 1) / cfg.PageSize
	fleet = nil

	on, err := newExporter(sim.URL, cfg.PageSize, cfg.Concurrency, true, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	off, err := newExporter(sim.URL, cfg.PageSize, cfg.Concurrency, false, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	floor, err := newFloorFetcher(sim.URL, cfg.PageSize, cfg.Concurrency)
	if err != nil {
		return nil, err
	}

	// An unmeasured scrape of each kind warms connections and the
	// simulator's sort cache, and is checked against the ground truth.
	logf(cfg, "%d drives: checking a scrape against the ground truth", n)
	for _, c := range []struct {
		e          *exporter
		compressed bool
	}{{on, false}, {off, false}, {on, true}} {
		var buf bytes.Buffer
		r, err := c.e.scrape(&buf, c.compressed)
		if err != nil {
			return nil, err
		}
		devices := c.e == on
		if err := truth.verify(buf.Bytes(), devices); err != nil {
			return nil, fmt.Errorf("per-drive series %v, gzip %v: %w", devices, c.compressed, err)
		}
		if got, err := requestsReported(buf.Bytes()); err != nil || got != r.requests {
			return nil, fmt.Errorf("safeconsole_scrape_requests = %d (%v), the scan made %d", got, err, r.requests)
		}
	}
	if _, err := floor.fetch(context.Background()); err != nil {
		return nil, err
	}
	truth = nil

	for run := 0; run < cfg.Runs; run++ {
		logf(cfg, "%d drives: run %d of %d", n, run+1, cfg.Runs)
		// The floor.
		idleHeap()
		hs := startHeapSampler()
		cpu0, t0 := processCPU(), time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		reqs, err := floor.fetch(ctx)
		cancel()
		t1, cpu1 := time.Now(), processCPU()
		peak, _ := hs.Stop()
		if err != nil {
			return nil, err
		}
		sr.FloorWall = append(sr.FloorWall, t1.Sub(t0))
		sr.FloorCPU = append(sr.FloorCPU, cpu1-cpu0)
		sr.FloorPeakHeap = append(sr.FloorPeakHeap, peak)

		// The exporter, per-drive series off, then on.
		sr.IdleHeap = append(sr.IdleHeap, idleHeap())
		simCPU0, err := sim.CPU()
		if err != nil {
			return nil, err
		}
		simReq0, err := sim.Requests()
		if err != nil {
			return nil, err
		}
		r, err := off.scrape(nil, false)
		if err != nil {
			return nil, err
		}
		simReq1, err := sim.Requests()
		if err != nil {
			return nil, err
		}
		simCPU1, err := sim.CPU()
		if err != nil {
			return nil, err
		}
		sr.SimCPU = append(sr.SimCPU, simCPU1-simCPU0)
		sr.SimRequests = simReq1 - simReq0
		sr.Requests = r.requests
		if reqs != r.requests || int64(r.requests) != sr.SimRequests {
			return nil, fmt.Errorf("the floor made %d requests, the exporter counted %d and the simulator served %d: they must agree",
				reqs, r.requests, sr.SimRequests)
		}
		if r.res.Devices != sr.Drives {
			return nil, fmt.Errorf("scrape read %d drives, the fleet has %d", r.res.Devices, sr.Drives)
		}
		sr.Off = append(sr.Off, r)

		idleHeap()
		r, err = on.scrape(nil, false)
		if err != nil {
			return nil, err
		}
		sr.On = append(sr.On, r)

		// As Prometheus asks by default: gzip.
		idleHeap()
		r, err = on.scrape(nil, true)
		if err != nil {
			return nil, err
		}
		sr.OnGzip = append(sr.OnGzip, r)
	}

	if n == cfg.DecoderSize {
		logf(cfg, "%d drives: comparing decoders on the same pages", n)
		pages, err := FetchPages(sim.URL, safeconsoletest.DefaultToken, cfg.PageSize)
		if err != nil {
			return nil, err
		}
		ous, err := fetchOUs(sim.URL)
		if err != nil {
			return nil, err
		}
		results, err := compareDecoders(pages, ous, sr.Drives, cfg.DecoderRounds)
		if err != nil {
			return nil, err
		}
		rep.Decoders = append(rep.Decoders, DecoderSet{Padded: padded, Pages: len(pages), Results: results})
	}
	if n == cfg.SweepSize && !padded && len(cfg.SweepPageSizes) > 0 {
		rep.Sweep, err = sweep(cfg, sim.URL, sr.Drives)
		if err != nil {
			return nil, err
		}
	}
	return sr, nil
}

// sweep scrapes with every page size x concurrency setting.
func sweep(cfg *Config, url string, drives int) ([]SweepResult, error) {
	var out []SweepResult
	for _, ps := range cfg.SweepPageSizes {
		for _, conc := range cfg.SweepConcurrency {
			logf(cfg, "sweep: page size %d, concurrency %d", ps, conc)
			e, err := newExporter(url, ps, conc, false, cfg.Timeout)
			if err != nil {
				return nil, err
			}
			if _, err := e.scrape(nil, false); err != nil { // warm the connections
				return nil, err
			}
			var walls []time.Duration
			res := SweepResult{PageSize: ps, Concurrency: conc}
			for run := 0; run < cfg.SweepRuns; run++ {
				r, err := e.scrape(nil, false)
				if err != nil {
					return nil, err
				}
				if r.res.Devices != drives {
					return nil, fmt.Errorf("sweep scrape read %d drives, want %d", r.res.Devices, drives)
				}
				walls = append(walls, r.wall)
				res.Requests = r.requests
			}
			res.Wall = median(walls)
			out = append(out, res)
		}
	}
	return out, nil
}
