package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// decoderResult is one decoder's cost on the same captured pages.
type decoderResult struct {
	name          string
	cpu           time.Duration // whole process, best of the rounds
	allocs        uint64        // per round
	bytes, drives int
}

func (r decoderResult) nsPerDrive() float64 { return float64(r.cpu.Nanoseconds()) / float64(r.drives) }
func (r decoderResult) mbPerSec() float64   { return float64(r.bytes) / r.cpu.Seconds() / 1e6 }

// measureCPU runs fn rounds times and keeps the least process CPU time: on
// a shared machine other work can only add to a round, never take away.
func measureCPU(rounds int, fn func() error) (time.Duration, uint64, error) {
	best := time.Duration(1<<63 - 1)
	var allocs uint64
	for r := 0; r < rounds; r++ {
		runtime.GC()
		m0, c0 := readCounters(), processCPU()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		c1, m1 := processCPU(), readCounters()
		if d := c1 - c0; d < best {
			best = d
		}
		allocs = m1.sub(m0).allocs
	}
	return best, allocs, nil
}

// compareDecoders decodes the same pages with the exporter's decoder, with
// the exporter's whole list pipeline (decode, dedupe, aggregate), and with
// encoding/json into the obvious structs.
func compareDecoders(pages [][]byte, ous map[int64]string, drives, rounds int) ([]decoderResult, error) {
	size := 0
	for _, p := range pages {
		size += len(p)
	}
	var out []decoderResult
	add := func(name string, n int, fn func() error) error {
		cpu, allocs, err := measureCPU(n, fn)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, decoderResult{name: name, cpu: cpu, allocs: allocs, bytes: size, drives: drives})
		return nil
	}

	dec := safeconsole.NewPageDecoder(false)
	var page safeconsole.Page
	if err := add("exporter decoder (decode only)", rounds, func() error {
		n := 0
		for _, b := range pages {
			if err := dec.Decode(b, &page); err != nil {
				return err
			}
			n += len(page.Devices)
		}
		if n != drives {
			return fmt.Errorf("decoded %d drives, want %d", n, drives)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	replay := &replayScanner{pages: pages, ous: ous, dec: safeconsole.NewPageDecoder(false)}
	coll, err := collector.New(replay, collector.Options{Devices: false, Now: func() time.Time { return safeconsoletest.DefaultNow }})
	if err != nil {
		return nil, err
	}
	if err := add("exporter pipeline (decode, dedupe, aggregate)", rounds, func() error {
		ch := make(chan prometheus.Metric, 1024)
		go func() {
			coll.Collect(ch)
			close(ch)
		}()
		for range ch {
		}
		if replay.err != nil {
			return replay.err
		}
		if replay.res.Devices != drives {
			return fmt.Errorf("pipeline saw %d drives, want %d", replay.res.Devices, drives)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	if err := add("encoding/json into structs (decode only)", max(1, rounds/2), func() error {
		n := 0
		for _, b := range pages {
			d, err := decodeStd(b)
			if err != nil {
				return err
			}
			n += d
		}
		if n != drives {
			return fmt.Errorf("decoded %d drives, want %d", n, drives)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// replayScanner feeds captured pages through the exporter's decoder and the
// collector's aggregation without a network, deduplicating with the same
// safeconsole.Deduper Client.Scan uses, so that the pipeline's CPU is
// measured apart from HTTP.
type replayScanner struct {
	pages [][]byte
	ous   map[int64]string
	dec   *safeconsole.PageDecoder
	page  safeconsole.Page
	res   *safeconsole.ScanResult
	err   error
}

func (r *replayScanner) Scan(_ context.Context, visit safeconsole.VisitFunc) (*safeconsole.ScanResult, error) {
	res := &safeconsole.ScanResult{OUs: r.ous}
	var dedupe *safeconsole.Deduper
	for _, b := range r.pages {
		p := &r.page
		if err := r.dec.Decode(b, p); err != nil {
			r.err = err
			return res, err
		}
		if dedupe == nil {
			dedupe = safeconsole.NewDeduper(p.Total)
		}
		res.Pages++
		res.FirstTotal, res.LastTotal = p.Total, p.Total
		dupUsers, dupDevices := dedupe.Page(p)
		res.DuplicateUsers += dupUsers
		res.DuplicateDevices += dupDevices
		res.Users += len(p.Users)
		res.Devices += len(p.Devices)
		visit(p)
	}
	r.res, r.err = res, nil
	return res, nil
}

func (r *replayScanner) TokenExpiry() (time.Time, bool, error) { return time.Time{}, false, nil }

// fetchOUs reads the OU list once, for the replay.
func fetchOUs(baseURL string) (map[int64]string, error) {
	req, err := http.NewRequest(http.MethodGet, baseURL+safeconsoletest.APIPath+"?action="+safeconsole.ActionOUs, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+safeconsoletest.DefaultToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get_ous: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("get_ous: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("get_ous: HTTP " + resp.Status)
	}
	return safeconsole.DecodeOUs(b)
}
