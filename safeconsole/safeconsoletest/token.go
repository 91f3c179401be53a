package safeconsoletest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// DefaultTokenExpiry is the exp claim of the vendor article's example token.
const DefaultTokenExpiry int64 = 2147366207

// DefaultToken is the token a Server accepts unless WithToken says otherwise.
// Its payload carries exp = DefaultTokenExpiry.
var DefaultToken = MakeToken(time.Unix(DefaultTokenExpiry, 0), nil)

// MakeToken returns a JWT-shaped token (header.payload.signature, base64url
// without padding). The payload has the claims SafeConsole's tokens carry
// (roles, iss, realm, admin_name) and exp unless exp is zero. claims are
// merged over those; a nil value removes a claim. The signature is a digest,
// not a real signature: SafeConsole clients cannot verify tokens anyway.
// The result depends only on the arguments.
func MakeToken(exp time.Time, claims map[string]any) string {
	payload := map[string]any{
		"roles":      []string{"system_support"},
		"iss":        "safeconsole.example.com",
		"realm":      "com.blockmaster.sgSORealm",
		"admin_name": "admin@example.com",
	}
	if !exp.IsZero() {
		payload["exp"] = exp.Unix()
	}
	for k, v := range claims {
		if v == nil {
			delete(payload, k)
			continue
		}
		payload[k] = v
	}
	p, err := json.Marshal(payload) // map keys are sorted, so this is deterministic
	if err != nil {
		// Only unmarshalable claim values get here; that is a bug in the caller's test.
		panic("safeconsoletest: MakeToken: " + err.Error())
	}
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(p)
	sum := sha256.Sum256([]byte(s))
	return s + "." + enc.EncodeToString(sum[:])
}
