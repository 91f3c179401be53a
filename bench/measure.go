package bench

import (
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) of the whole process: every
// goroutine, the garbage collector and the runtime included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const (
	metricHeapObjects = "/memory/classes/heap/objects:bytes" // live and not yet swept
	metricHeapLive    = "/gc/heap/live:bytes"                // marked live by the last GC
	metricAllocs      = "/gc/heap/allocs:objects"            // cumulative
	metricAllocBytes  = "/gc/heap/allocs:bytes"              // cumulative
	metricGCCycles    = "/gc/cycles/total:gc-cycles"
)

// runtimeCounters reads cumulative allocation counters.
type runtimeCounters struct {
	allocs, allocBytes, gcCycles uint64
}

func readCounters() runtimeCounters {
	s := []metrics.Sample{{Name: metricAllocs}, {Name: metricAllocBytes}, {Name: metricGCCycles}}
	metrics.Read(s)
	return runtimeCounters{allocs: s[0].Value.Uint64(), allocBytes: s[1].Value.Uint64(), gcCycles: s[2].Value.Uint64()}
}

func (c runtimeCounters) sub(o runtimeCounters) runtimeCounters {
	return runtimeCounters{c.allocs - o.allocs, c.allocBytes - o.allocBytes, c.gcCycles - o.gcCycles}
}

// heapSampler records the largest heap seen while it runs. The heap in use
// (objects live or not yet swept) is what the process holds; sampling it
// every 10 ms catches the peak of a scrape to within about a megabyte (the
// most a scrape allocates in 10 ms, while rendering 400,000 series). A
// read costs a fraction of a microsecond, but each wake-up of an otherwise
// idle process costs the runtime up to ~150 µs of CPU on the reference
// machine (about 15 ms per second of sampling); the sampler runs alike in
// every measured phase, the fetch floor included, so it cancels out of the
// exporter's CPU, which is a difference of the two.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64 // heap objects bytes
	live uint64 // largest live heap a GC cycle marked
}

const sampleEvery = 10 * time.Millisecond

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.sample()
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.sample()
			}
		}
	}()
	return h
}

func (h *heapSampler) sample() {
	s := []metrics.Sample{{Name: metricHeapObjects}, {Name: metricHeapLive}}
	metrics.Read(s)
	h.peak = max(h.peak, s[0].Value.Uint64())
	h.live = max(h.live, s[1].Value.Uint64())
}

// Stop ends sampling and returns the peaks.
func (h *heapSampler) Stop() (peak, live uint64) {
	close(h.stop)
	h.done.Wait()
	h.sample()
	return h.peak, h.live
}

// idleHeap collects garbage and returns the heap that is left, the baseline
// a scrape starts from.
func idleHeap() uint64 {
	runtime.GC()
	runtime.GC() // the second cycle frees what the first one's finalizers released
	s := []metrics.Sample{{Name: metricHeapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func median(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianU(xs []uint64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]uint64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxU(xs []uint64) uint64 {
	var m uint64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
