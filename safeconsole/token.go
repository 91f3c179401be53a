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
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	// NumericDate: seconds since the epoch; reject what time.Unix cannot
	// represent meaningfully.
	if err != nil || math.IsNaN(f) || f <= 0 || f > 1e11 {
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
