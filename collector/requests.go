package collector

import "github.com/prometheus/client_golang/prometheus"

// NewAPIRequestsCounter returns safeconsole_api_requests_total, counted for
// the exporter's whole life on its own registry (not per scrape).
func NewAPIRequestsCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "api_requests_total",
		Help:      "SafeConsole API requests, by target server, action and HTTP status code (\"error\" when no answer arrived).",
	}, []string{"target", "action", "code"})
}

// RequestObserver returns the hook a safeconsole.Client calls per request.
func RequestObserver(counter *prometheus.CounterVec, target string) func(action, code string) {
	return func(action, code string) {
		counter.WithLabelValues(target, action, code).Inc()
	}
}
