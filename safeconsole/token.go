package safeconsole

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"time"
)

// maxJWTLength bounds the token we are willing to decode.
const maxJWTLength = 64 << 10

// JWTExpiry returns the `exp` claim of a JWT-shaped token, read without
// checking the signature (the exporter only reports it). ok is false for a
// token that is not a JWT or has no usable expiry.
func JWTExpiry(token string) (exp time.Time, ok bool) {
	if len(token) > maxJWTLength {
		return time.Time{}, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[1] == "" {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	// Claim names are case-sensitive and NumericDate is a JSON number
	// (RFC 7519 sections 4 and 2): a struct field would also match "EXP" and
	// a json.Number would take the string "1798761600", so the claim is read
	// by its exact name and must be a number literal.
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, false
	}
	raw := claims["exp"]
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return time.Time{}, false
	}
	var f float64
	// Seconds since the epoch; reject what time.Unix cannot represent
	// meaningfully.
	if err := json.Unmarshal(raw, &f); err != nil || math.IsNaN(f) || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

var jwtPattern = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

// redactJWTs removes anything shaped like a JWT from text a server sent
// back, in case it echoes a token.
func redactJWTs(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return jwtPattern.ReplaceAllString(s, "[REDACTED]")
}
