package safeconsoletest

import "time"

// Fault describes a misbehaviour of the server for tests. The zero values of
// the effect fields mean "no such effect", so a Fault with only Latency set
// delays an otherwise normal answer.
type Fault struct {
	Action string // "" matches any action
	// Page selects the request: -1 matches any; otherwise only the list
	// request whose page index (start/limit by offset, start by number)
	// equals Page. Requests that are not paged (get_ous) are page 0.
	Page  int
	Times int // how many matching requests it applies to; 0 = forever

	Status       int    // reply with this status and a JSON error body
	RetryAfter   string // Retry-After header (meant for Status 429 or 503)
	Body         []byte // reply 200 with this raw body instead
	Truncate     bool   // send the Content-Length of the full body, half the body, then cut the connection
	SuccessFalse bool   // reply 200 {"success":false,"message":"..."}
	// Latency delays the answer; it ends early, without answer, when the
	// client goes away or the server closes.
	Latency    time.Duration
	Hang       bool // never answer until the client goes away or the server closes
	TotalDelta int  // report total + TotalDelta (a server that lies about total)
	// RepeatPage serves the entries of another page instead (data repeated).
	// 0 means off; n > 0 serves page n; RepeatFirstPage serves page 0.
	RepeatPage int
	// Oversize pads the answer to this many bytes with a long string member
	// inside the first entry (at the top level when the page is empty).
	Oversize int64
	Gzip     bool // gzip the answer, with Content-Encoding: gzip, whatever the request accepts
}

// RepeatFirstPage as Fault.RepeatPage serves page 0's entries (0 means off).
const RepeatFirstPage = -1

// AnyPage as Fault.Page matches every request.
const AnyPage = -1

type faultState struct {
	f    Fault
	used int
}

// AddFault appends a fault. Faults are checked in the order added; the first
// matching one that is not used up applies.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{f: f})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault finds the fault for a request and uses it up by one.
func (s *Server) takeFault(action string, page int) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.faults {
		f := &st.f
		if f.Action != "" && f.Action != action {
			continue
		}
		if f.Page >= 0 && f.Page != page {
			continue
		}
		if f.Times > 0 && st.used >= f.Times {
			continue
		}
		st.used++
		return *f, true
	}
	return Fault{}, false
}
