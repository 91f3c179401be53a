package safeconsoletest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

func Example() {
	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 1, Devices: 50})
	srv := safeconsoletest.NewTLSServer(fleet)
	defer srv.Close()

	// Make the second page fail once with a rate limit.
	srv.AddFault(safeconsoletest.Fault{Page: 1, Times: 1, Status: http.StatusTooManyRequests, RetryAfter: "1"})

	req, _ := http.NewRequest(http.MethodPost, srv.URL+safeconsoletest.APIPath+"?action=get_users",
		strings.NewReader(`{"limit":25,"start":25,"sort_by":"last_login","sort_order":"DESC","keyword":"search_all"}`))
	req.Header.Set("Authorization", "Bearer "+safeconsoletest.DefaultToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), string(body))

	// What an exporter reading this fleet should report.
	t := fleet.Tally(safeconsoletest.TallyOptions{})
	total := 0
	for _, n := range t.Devices {
		total += n
	}
	fmt.Println("drives:", total, "requests:", srv.Requests("get_users"))
	// Output:
	// 429 1 {"success":false,"message":"Simulated error 429"}
	// drives: 50 requests: 1
}
