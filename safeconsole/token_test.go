package safeconsole

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }

func TestJWTExpiry(t *testing.T) {
	// The vendor article's example payload (its header is abbreviated);
	// the article says it decodes to exp 2147366207.
	seed := "eyQiLCJhbGciOiJNiJ9.eyJyb2xlcyI6WyJzeXN0ZW1fc3VwcG9ydCJdLCJpc3MiOiJuaWdodxlY2xvdWQuaW8iLCJyZWFsbSI6ImNvbS5ibG9ja21hc3Rlci5zZ1NPUmVhbG0iLCJhZG1pbl9uYW1lIjoia2VhbkBkYNvbSIsImV4cCI6MjE0NzM2NjIwN30.DDFgdMB0lEfKahNkkuWg7TbMdNjw8VJ-mYOpSGjfBkI"
	for name, tc := range map[string]struct {
		token string
		ok    bool
		exp   int64
	}{
		"well formed":    {"h." + b64(`{"exp":1798761600,"roles":["x"]}`) + ".s", true, 1798761600},
		"padded":         {"h." + b64(`{"exp":1798761600}`) + "==.s", true, 1798761600},
		"fractional exp": {"h." + b64(`{"exp":1798761600.5}`) + ".s", true, 1798761600},
		"no exp":         {"h." + b64(`{"iss":"x"}`) + ".s", false, 0},
		"exp string":     {"h." + b64(`{"exp":"soon"}`) + ".s", false, 0},
		"exp negative":   {"h." + b64(`{"exp":-5}`) + ".s", false, 0},
		"exp absurd":     {"h." + b64(`{"exp":1e300}`) + ".s", false, 0},
		"not base64":     {"h.!!!.s", false, 0},
		"two parts":      {"abc.def", false, 0},
		"opaque token":   {"0123456789abcdef", false, 0},
		"empty":          {"", false, 0},
		"payload array":  {"h." + b64(`[1,2]`) + ".s", false, 0},
	} {
		exp, ok := JWTExpiry(tc.token)
		if ok != tc.ok || (ok && exp.Unix() != tc.exp) {
			t.Errorf("%s: JWTExpiry = %v, %v; want %d, %v", name, exp, ok, tc.exp, tc.ok)
		}
	}
	// The article's payload segment lost characters when it was
	// abbreviated (173 base64 characters cannot be decoded), so the token
	// as printed has no readable expiry and must yield none rather than a
	// guess; the claims it carries are checked through a repaired copy.
	if exp, ok := JWTExpiry(seed); ok {
		t.Errorf("the mangled seed token yielded an expiry %v", exp)
	}
	repaired := "h." + b64(`{"roles":["system_support"],"iss":"nightwatchcloud.io","realm":"com.blockmaster.sgSORealm","admin_name":"kean@example.com","exp":2147366207}`) + ".s"
	if exp, ok := JWTExpiry(repaired); !ok || exp != time.Unix(2147366207, 0).UTC() {
		t.Errorf("seed-shaped token: %v, %v", exp, ok)
	}
}

func TestRedactJWTs(t *testing.T) {
	tok := "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTg3NjE2MDB9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	got := redactJWTs("bad token " + tok + " for user x.y.z")
	if strings.Contains(got, tok) || !strings.Contains(got, "[REDACTED]") || !strings.Contains(got, "x.y.z") {
		t.Errorf("redactJWTs = %q", got)
	}
	if got := sanitizeMessage(strings.Repeat("a", 300)+"opaque-secret", "opaque-secret"); strings.Contains(got, "opaque") || len(got) > 210 {
		t.Errorf("sanitizeMessage = %q", got)
	}
	// The token is removed before the message is shortened, so no prefix
	// of it survives a cut.
	long := strings.Repeat("x", 190) + " " + tok
	if got := sanitizeMessage(long, tok); strings.Contains(got, tok[:10]) {
		t.Errorf("a cut left part of the token: %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"99999999":                      time.Hour,
		"soon":                          0,
		"Fri, 04 Dec 2026 12:00:30 GMT": 30 * time.Second,
		"Fri, 04 Dec 2026 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
