// Command scbench measures the exporter against the simulated SafeConsole
// server at several fleet sizes and prints the results as Markdown (see
// BENCHMARKS.md). `make bench` runs it with the documented settings.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/bench"
)

func main() {
	// The simulated server is this same program started again; it must
	// take over before anything else runs.
	if bench.MaybeServeSimulator() {
		return
	}
	var (
		sizes       = flag.String("sizes", "1000,10000,100000", "fleet sizes in drives, comma-separated; answers in the seed's shape")
		padded      = flag.String("padded-sizes", "largest", "sizes measured again with padded answers (members the vendor's example does not show, about twice the bytes); \"largest\": the largest of -sizes; empty: none")
		latency     = flag.Duration("latency", 20*time.Millisecond, "latency the simulator adds to every request")
		pageSize    = flag.Int("page-size", 0, "list page size (0: the exporter's default)")
		concurrency = flag.Int("concurrency", 0, "pages fetched at once (0: the exporter's default)")
		runs        = flag.Int("runs", 5, "measured scrapes per size and setting")
		decRounds   = flag.Int("decoder-rounds", 5, "rounds of the decoder comparison (the least CPU is kept)")
		sweepSize   = flag.Int("sweep-size", 100000, "fleet size of the page size x concurrency sweep")
		sweepPages  = flag.String("sweep-page-sizes", "100,250,500,1000", "page sizes of the sweep; empty: no sweep")
		sweepConc   = flag.String("sweep-concurrency", "1,2,4,8", "concurrency settings of the sweep")
		sweepRuns   = flag.Int("sweep-runs", 2, "measured scrapes per sweep setting")
		out         = flag.String("o", "", "also write the Markdown report to this file")
		cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	)
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	cfg := bench.Config{
		Latency: *latency, PageSize: *pageSize, Concurrency: *concurrency, Runs: *runs,
		DecoderRounds: *decRounds, SweepSize: *sweepSize, SweepRuns: *sweepRuns, Log: os.Stderr,
	}
	var err error
	if cfg.Sizes, err = ints(*sizes); err != nil {
		fail(err)
	}
	if *padded != "largest" {
		if cfg.PaddedSizes, err = ints(*padded); err != nil {
			fail(err)
		}
		if cfg.PaddedSizes == nil {
			cfg.PaddedSizes = []int{}
		}
	}
	if cfg.SweepPageSizes, err = ints(*sweepPages); err != nil {
		fail(err)
	}
	if cfg.SweepConcurrency, err = ints(*sweepConc); err != nil {
		fail(err)
	}
	rep, err := bench.Run(cfg)
	if err != nil {
		pprof.StopCPUProfile()
		fail(err)
	}
	command := strings.Join(append([]string{"scbench"}, os.Args[1:]...), " ")
	rep.WriteMarkdown(os.Stdout, command)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fail(err)
		}
		rep.WriteMarkdown(f, command)
		if err := f.Close(); err != nil {
			fail(err)
		}
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scbench:", err)
	os.Exit(1)
}
