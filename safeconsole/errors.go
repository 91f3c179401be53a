package safeconsole

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies a failed API call by what the operator has to do about it.
type Kind int

const (
	KindUnknown       Kind = iota
	KindUnauthorized       // 401: token invalid or expired
	KindForbidden          // 403: token's role lacks rights
	KindUnknownAction      // 404 or "unknown action": wrong action name
	KindRateLimited        // 429 after retries
	KindServer             // 5xx after retries, or another unexpected status
	KindRedirect           // 3xx: the configured URL is not the API's
	KindTransport          // no HTTP answer: refused, reset, TLS, DNS
	KindTimeout            // the scrape's deadline ran out
	KindTooLarge           // the body exceeded the response size limit
	KindProtocol           // malformed, truncated or unexpected JSON
	KindNotSuccess         // 200 with "success": false
	KindInconsistent       // pages that do not add up to the reported total
	KindConfig             // local setup: token file unreadable or empty
)

var kindNames = map[Kind]string{
	KindUnknown:       "unknown",
	KindUnauthorized:  "unauthorized",
	KindForbidden:     "forbidden",
	KindUnknownAction: "unknown_action",
	KindRateLimited:   "rate_limited",
	KindServer:        "server_error",
	KindRedirect:      "redirect",
	KindTransport:     "transport",
	KindTimeout:       "timeout",
	KindTooLarge:      "too_large",
	KindProtocol:      "protocol",
	KindNotSuccess:    "not_success",
	KindInconsistent:  "inconsistent",
	KindConfig:        "config",
}

// String names the kind in snake case, fit for a log key or label value.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "unknown"
}

// Error is a failed API call. Its message names the action, what happened
// and what the operator should do; it never contains the token.
type Error struct {
	Action string
	Kind   Kind
	Status int // HTTP status, 0 when there was no answer
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("safeconsole action %q", e.Action)
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) hint() string {
	switch e.Kind {
	case KindUnauthorized:
		return "the API token is invalid or expired: generate a new one in SafeConsole under Profile Settings > API Tokens and write it to the token file"
	case KindForbidden:
		return "the token's role lacks the rights for this action: use a token created by the SafeConsole owner; read-only is enough"
	case KindUnknownAction:
		if e.Action == ActionOUs {
			return "this server has no OU listing"
		}
		return "the server does not know this list action: set --safeconsole.list-action (list_action in a module) to the name your SafeConsole version uses"
	case KindRateLimited:
		return "the server is rate limiting: scrape less often or lower --safeconsole.concurrency"
	case KindServer:
		return "the SafeConsole server failed: check its health and logs"
	case KindRedirect:
		return "the API answered with a redirect, which is not followed so the token never leaves for another address: set --safeconsole.url to the final https address"
	case KindTransport:
		return "no answer from the server: check --safeconsole.url, the network path, proxy and TLS settings (--safeconsole.ca-file)"
	case KindTimeout:
		return "the scrape deadline ran out: raise scrape_timeout, --safeconsole.page-size or --safeconsole.concurrency"
	case KindTooLarge:
		return "raise --safeconsole.max-response-size only if the server's pages are legitimately this large"
	case KindProtocol:
		return "the answer is not the JSON the exporter expects"
	case KindNotSuccess:
		return "the server refused the request: check the token's rights and the list action's parameters"
	case KindInconsistent:
		return "the server's pages do not add up to the total it reports"
	}
	return ""
}

// KindOf returns the kind of err, KindUnknown when it is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}
