package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole"
)

func TestEstimateDeadline(t *testing.T) {
	// 100 pages of 500 at concurrency 4 is 1 + 25 rounds. 10 pages (1 + 3
	// rounds) took 2 s: 500 ms a round, 13 s for the list. 8 s of a 10 s
	// deadline is 16 rounds: the other 99 pages need concurrency 7, or
	// 1 + 15*4 = 61 pages of 820 entries.
	res := &safeconsole.ScanResult{Pages: 10, Users: 5000, LastTotal: 50_000}
	e := estimateDeadline(res, 2*time.Second, 10*time.Second, 500, 4)
	if e.pagesNeeded != 100 || e.perRound != 500*time.Millisecond || e.need != 13*time.Second {
		t.Errorf("estimate = %+v, want 100 pages, 500ms a round, 13s", e)
	}
	if e.concurrencyFit != 7 || e.sizeFit != 820 || e.capped {
		t.Errorf("fits = concurrency %d, page size %d (capped %v); want 7 and 820", e.concurrencyFit, e.sizeFit, e.capped)
	}
	advice := e.advice()
	for _, want := range []string{"--safeconsole.concurrency from 4 to 7", "--safeconsole.page-size from 500 to 820", "scrape timeout to at least 17s"} {
		if !strings.Contains(advice, want) {
			t.Errorf("advice %q lacks %q", advice, want)
		}
	}

	// A server that answers 100 entries when asked for 500: no use raising
	// the page size, and the estimate counts the real pages.
	res = &safeconsole.ScanResult{Pages: 10, Users: 1000, LastTotal: 10_000}
	e = estimateDeadline(res, 2*time.Second, 10*time.Second, 500, 4)
	if !e.capped || e.pagesNeeded != 100 || e.sizeFit != 0 {
		t.Errorf("capped server: %+v", e)
	}
	if a := e.advice(); strings.Contains(a, "page-size") || !strings.Contains(a, "at most about 100 entries per page") {
		t.Errorf("capped server advice: %q", a)
	}

	// Rounds too slow for any setting: only the deadline helps.
	res = &safeconsole.ScanResult{Pages: 1, Users: 500, LastTotal: 50_000}
	e = estimateDeadline(res, 6*time.Second, 10*time.Second, 500, 4)
	if e.concurrencyFit != 0 || e.sizeFit != 0 || !strings.HasPrefix(e.advice(), "raise the scrape timeout to at least") {
		t.Errorf("slow rounds: %+v, advice %q", e, e.advice())
	}

	// Nothing read: no projection, still advice.
	e = estimateDeadline(&safeconsole.ScanResult{}, time.Second, time.Second, 500, 4)
	if e.need != 0 || e.advice() == "" {
		t.Errorf("empty scan: %+v, advice %q", e, e.advice())
	}
}
