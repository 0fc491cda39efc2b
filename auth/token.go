package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// PersonalTokenPrefix starts every personal API token ("bwk_…"), so secret
// scanners and people can recognise a leaked Bulwark token.
const PersonalTokenPrefix = "bwk"

// GatewayKeyPrefix starts every gateway API key ("bgk_…") that clients of
// the proxies send; distinct from personal tokens so neither is accepted
// where the other belongs.
const GatewayKeyPrefix = "bgk"

const (
	tokenBytes      = 32 // 256 bits: unguessable, and safe to store as a plain SHA-256
	tokenRandLen    = 43 // base62 digits for 32 bytes: 62^43 > 2^256
	displayRandLen  = 6
	maxPrefixLen    = 16
	base62Alphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	csrfDomainLabel = "csrf:"
)

// NewToken returns prefix + "_" + 32 random bytes as 43 base62 characters.
// base62 rather than base64url keeps the random part free of "_" and "-",
// so the token splits unambiguously and selects with one double-click.
// prefix must be 1 to 16 ASCII letters or digits.
func NewToken(prefix string) (string, error) {
	if !validPrefix(prefix) {
		return "", fmt.Errorf("auth: token prefix must be 1 to %d ASCII letters or digits", maxPrefixLen)
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: generate token: %w", err)
	}
	return prefix + "_" + base62(b), nil
}

// TokenHash returns the hex SHA-256 of a token, the only form stored. A fast
// unsalted hash is enough here, unlike for passwords: the token has 256
// bits of entropy, so there is nothing to brute-force, and a deterministic
// hash lets the store look tokens up by it.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenDisplayPrefix returns the token's prefix and the first 6 characters
// of its random part (e.g. "bwk_Ab3dE9"), stored so users can tell tokens
// apart; 36 bits shown still leave 220 secret. It returns "" for a string
// that is not a token in NewToken's format, so a pasted credential of some
// other kind is never partially recorded.
func TokenDisplayPrefix(token string) string {
	i := strings.LastIndexByte(token, '_')
	if i < 0 || !validPrefix(token[:i]) || len(token)-i-1 != tokenRandLen {
		return ""
	}
	for _, c := range []byte(token[i+1:]) {
		if strings.IndexByte(base62Alphabet, c) < 0 {
			return ""
		}
	}
	return token[:i+1+displayRandLen]
}

// NewSessionToken returns a browser session cookie value: 32 random bytes,
// unpadded base64url.
func NewSessionToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: generate session token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SessionID returns the stored id of a session: hex HMAC-SHA256(key, token).
// Keyed, so that a database dump (or read-only SQL injection) yields ids
// that cannot be turned back into cookies without the key in the data
// directory.
func SessionID(key []byte, token string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// CSRFToken returns the anti-CSRF token of a session: unpadded base64url
// HMAC-SHA256(key, "csrf:"+sessionID). Derived rather than stored, it needs
// no extra state; bound to the session, it is useless in any other one. The
// "csrf:" label keeps it from ever equalling another MAC made with the key.
func CSRFToken(key []byte, sessionID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(csrfDomainLabel + sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports, in constant time, whether presented is the CSRF token
// of sessionID. It fails closed on an empty key, session or token.
func CheckCSRF(key []byte, sessionID, presented string) bool {
	if len(key) == 0 || sessionID == "" || presented == "" {
		return false
	}
	return hmac.Equal([]byte(CSRFToken(key, sessionID)), []byte(presented))
}

func validPrefix(s string) bool {
	if s == "" || len(s) > maxPrefixLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// base62 writes b, read as a big-endian number, as exactly tokenRandLen
// base62 digits (zero-padded), by repeated long division. Being a bijection
// on numbers, it keeps all of b's entropy with no modulo bias.
func base62(b []byte) string {
	num := append([]byte(nil), b...)
	out := make([]byte, tokenRandLen)
	for i := len(out) - 1; i >= 0; i-- {
		var rem uint
		for j, d := range num {
			acc := rem<<8 | uint(d)
			num[j] = byte(acc / 62)
			rem = acc % 62
		}
		out[i] = base62Alphabet[rem]
	}
	return string(out)
}
