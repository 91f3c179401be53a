package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the numbers came from.
type Machine struct {
	CPUs, GOMAXPROCS   int
	CPUModel           string
	GoVersion, OSArch  string
	LoadStart, LoadEnd string
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH, CPUModel: "unknown", LoadStart: loadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages: other work on the
// machine slows wall times, so they go with every result.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func msPrecise(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
	return ms(d)
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func size(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func perDrive(d time.Duration, drives int) string {
	return fmt.Sprintf("%.2f µs", float64(d.Nanoseconds())/float64(drives)/1000)
}

func minD(xs []time.Duration) time.Duration {
	m := time.Duration(0)
	for i, x := range xs {
		if i == 0 || x < m {
			m = x
		}
	}
	return m
}

func pick[T any](rs []scrapeResult, f func(scrapeResult) T) []T {
	out := make([]T, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// summary is the medians of one size's measurements.
type summary struct {
	floor, floorCPU, off, on, renderOff, renderOn time.Duration
	onGzip, renderOnGzip, renderCPUOnGzip         time.Duration
	scanCPU, renderCPUOn, simCPU                  time.Duration
	allocs, renderAllocsOn, idle                  uint64
	peakOff, peakOn, liveOff, liveOn, floorPeak   uint64
	bytesOff, bytesOn, bytesOnGzip                int64
}

func summarize(s *SizeResult) summary {
	wall := func(r scrapeResult) time.Duration { return r.wall }
	render := func(r scrapeResult) time.Duration { return r.renderWall }
	return summary{
		floor:           median(s.FloorWall),
		floorCPU:        minD(s.FloorCPU),
		off:             median(pick(s.Off, wall)),
		on:              median(pick(s.On, wall)),
		renderOff:       median(pick(s.Off, render)),
		renderOn:        median(pick(s.On, render)),
		onGzip:          median(pick(s.OnGzip, wall)),
		renderOnGzip:    median(pick(s.OnGzip, render)),
		renderCPUOnGzip: median(pick(s.OnGzip, func(r scrapeResult) time.Duration { return r.renderCPU })),
		bytesOnGzip:     s.OnGzip[len(s.OnGzip)-1].bytes,
		scanCPU:         minD(pick(s.Off, func(r scrapeResult) time.Duration { return r.scanCPU })),
		renderCPUOn:     median(pick(s.On, func(r scrapeResult) time.Duration { return r.renderCPU })),
		simCPU:          median(s.SimCPU),
		allocs:          medianU(pick(s.Off, func(r scrapeResult) uint64 { return r.scanAllocs })),
		renderAllocsOn:  medianU(pick(s.On, func(r scrapeResult) uint64 { return r.renderAllocs })),
		idle:            medianU(s.IdleHeap),
		peakOff:         maxU(pick(s.Off, func(r scrapeResult) uint64 { return r.peakHeap })),
		peakOn:          maxU(pick(s.On, func(r scrapeResult) uint64 { return r.peakHeap })),
		liveOff:         maxU(pick(s.Off, func(r scrapeResult) uint64 { return r.liveHeap })),
		liveOn:          maxU(pick(s.On, func(r scrapeResult) uint64 { return r.liveHeap })),
		floorPeak:       maxU(s.FloorPeakHeap),
		bytesOff:        s.Off[len(s.Off)-1].bytes,
		bytesOn:         s.On[len(s.On)-1].bytes,
	}
}

// shape names the answers' shape in the tables.
func shape(padded bool) string {
	if padded {
		return "padded"
	}
	return "seed"
}

// WriteMarkdown writes the report as Markdown tables.
func (r *Report) WriteMarkdown(w io.Writer, command string) {
	c := r.Config
	m := r.Machine
	fmt.Fprintf(w, "Command: `%s`  \n", command)
	fmt.Fprintf(w, "Machine: %d CPUs (GOMAXPROCS %d), %s, %s %s; load average %s at the start, %s at the end.  \n",
		m.CPUs, m.GOMAXPROCS, m.CPUModel, m.GoVersion, m.OSArch, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(w, "Settings: latency %v per request, page size %d, concurrency %d, %d measured scrapes per size (medians; peaks are the largest), fleet seed %d. Run took %v.\n\n",
		c.Latency, c.PageSize, c.Concurrency, c.Runs, c.Seed, r.Took.Round(time.Second))

	fmt.Fprintln(w, "Scrape wall time against the fetch floor (same pages, same concurrency, bodies discarded):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| drives | answers | users | pages | API requests | floor | scrape, per-drive off | ratio | scrape, per-drive on | ratio | per-drive on, gzip | ratio |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for i := range r.Sizes {
		s := &r.Sizes[i]
		v := summarize(s)
		fmt.Fprintf(w, "| %d | %s | %d | %d | %d | %s | %s | %.2f | %s | %.2f | %s | %.2f |\n", s.Drives, shape(s.Padded), s.Users, s.Pages, s.Requests,
			ms(v.floor), ms(v.off), float64(v.off)/float64(v.floor), ms(v.on), float64(v.on)/float64(v.floor),
			ms(v.onGzip), float64(v.onGzip)/float64(v.floor))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "CPU and memory. Exporter CPU is the process's CPU during the list pass (fetch, decode, dedupe, aggregate) minus the floor's CPU for the same requests, each the least of the runs (other work on the machine only ever adds CPU time); the simulator runs in another process and is in neither.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| drives | answers | exporter CPU / drive | list pass CPU / drive | floor CPU / drive | allocs / drive | simulator CPU / drive | idle heap | peak heap, off | peak heap, on | floor peak heap |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for i := range r.Sizes {
		s := &r.Sizes[i]
		v := summarize(s)
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %.2f | %s | %s | %s | %s | %s |\n", s.Drives, shape(s.Padded),
			perDrive(v.scanCPU-v.floorCPU, s.Drives), perDrive(v.scanCPU, s.Drives), perDrive(v.floorCPU, s.Drives),
			float64(v.allocs)/float64(s.Drives), perDrive(v.simCPU, s.Drives),
			mib(v.idle), mib(v.peakOff), mib(v.peakOn), mib(v.floorPeak))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Exposition: size of /metrics and the time from the last page to the last byte (aggregation finish, metric construction, registry gather, text encoding), text format, plain and gzip-compressed as Prometheus asks by default.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| drives | answers | size, off | size, on | size, on, gzip | render, off | render, on | render CPU, on | render allocs / drive, on | render, on, gzip | render CPU, on, gzip |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for i := range r.Sizes {
		s := &r.Sizes[i]
		v := summarize(s)
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s |\n", s.Drives, shape(s.Padded), size(v.bytesOff), size(v.bytesOn), size(v.bytesOnGzip),
			msPrecise(v.renderOff), msPrecise(v.renderOn), msPrecise(v.renderCPUOn), float64(v.renderAllocsOn)/float64(s.Drives),
			msPrecise(v.renderOnGzip), msPrecise(v.renderCPUOnGzip))
	}
	fmt.Fprintln(w)

	for _, set := range r.Decoders {
		d0 := set.Results[0]
		fmt.Fprintf(w, "Decoders on the same %d pages, %s answers (%s, %d drives, %.0f bytes per drive), process CPU, best of %d rounds:\n\n",
			set.Pages, shape(set.Padded), size(int64(d0.bytes)), d0.drives, float64(d0.bytes)/float64(d0.drives), c.DecoderRounds)
		fmt.Fprintln(w, "| decoder | CPU / drive | throughput | allocs / drive | encoding/json is slower by |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		std := set.Results[len(set.Results)-1]
		for _, d := range set.Results {
			fmt.Fprintf(w, "| %s | %.2f µs | %.0f MB/s | %.2f | %.1fx |\n", d.name, d.nsPerDrive()/1000, d.mbPerSec(),
				float64(d.allocs)/float64(d.drives), std.nsPerDrive()/d.nsPerDrive())
		}
		fmt.Fprintln(w)
	}

	if len(r.Sweep) > 0 {
		fmt.Fprintf(w, "Page size and concurrency at %d drives, per-drive series off (API requests per scrape against scrape wall time, median of %d):\n\n",
			c.SweepSize, c.SweepRuns)
		fmt.Fprintln(w, "| page size | concurrency | API requests | scrape wall |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|")
		for _, s := range r.Sweep {
			fmt.Fprintf(w, "| %d | %d | %d | %s |\n", s.PageSize, s.Concurrency, s.Requests, ms(s.Wall))
		}
		fmt.Fprintln(w)
	}
}
