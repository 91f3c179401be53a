package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/collector"
)

// TestTimeoutLogSaysWhatToRaise reads a list that cannot fit its deadline:
// 17 pages one at a time with 50 ms each take at least 850 ms, the
// deadline is 400 ms. The failure's log line must carry the projection
// and name the settings to raise.
func TestTimeoutLogSaysWhatToRaise(t *testing.T) {
	s := newSetup(t, options{devices: 2000, pageSize: 100, concurrency: 1, latency: 50 * time.Millisecond,
		collector: func(o *collector.Options) { o.Timeout = 400 * time.Millisecond; o.Devices = false }})
	gathered(t, s.coll)
	logs := s.logs.String()
	for _, want := range []string{"SafeConsole scrape failed", "kind=timeout", "pages_read=", "pages_needed=17",
		"estimated_seconds=", "--safeconsole.concurrency from 1 to", "--safeconsole.page-size from 100 to", "the scrape timeout to at least"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
