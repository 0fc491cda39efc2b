package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

var tokenRE = regexp.MustCompile(`^bwk_[0-9A-Za-z]{43}$`)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := NewToken(PersonalTokenPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if !tokenRE.MatchString(tok) {
			t.Fatalf("format: %q", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
		if TokenHash(tok) == TokenHash(tok+"x") {
			t.Fatal("hash ignores input")
		}
	}
	for _, p := range []string{"", "bwk_", "b-k", "bwk ", "ä", strings.Repeat("a", 17)} {
		if _, err := NewToken(p); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if tok, err := NewToken("Gw1"); err != nil || !strings.HasPrefix(tok, "Gw1_") {
		t.Fatalf("prefix Gw1: %q, %v", tok, err)
	}
}

// The base62 text is the 32 random bytes as a number, losslessly.
func TestBase62(t *testing.T) {
	cases := [][]byte{
		make([]byte, 32),
		{31: 1},
		{31: 62},
		[]byte(strings.Repeat("\xff", 32)),
		[]byte("0123456789abcdef0123456789abcdef"),
	}
	for _, b := range cases {
		s := base62(b)
		if len(s) != tokenRandLen {
			t.Fatalf("length %d", len(s))
		}
		want := new(big.Int).SetBytes(b)
		got := new(big.Int)
		for _, c := range []byte(s) {
			got.Mul(got, big.NewInt(62))
			got.Add(got, big.NewInt(int64(strings.IndexByte(base62Alphabet, c))))
		}
		if got.Cmp(want) != 0 {
			t.Fatalf("base62(%x) = %s decodes to %x", b, s, got.Bytes())
		}
	}
	if got := base62(make([]byte, 32)); got != strings.Repeat("0", 43) {
		t.Fatalf("zero: %s", got)
	}
	if got := base62([]byte{31: 61}); !strings.HasSuffix(got, "0z") {
		t.Fatalf("61: %s", got)
	}
}

func TestTokenHash(t *testing.T) {
	// Stable: stored hashes must keep matching across releases.
	if got := TokenHash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("TokenHash(\"abc\") = %s", got)
	}
	sum := sha256.Sum256([]byte("bwk_abc"))
	if TokenHash("bwk_abc") != hex.EncodeToString(sum[:]) {
		t.Fatal("TokenHash is not hex SHA-256")
	}
	if got := TokenHash(""); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("TokenHash(\"\") = %s", got)
	}
}

func TestTokenDisplayPrefix(t *testing.T) {
	tok, _ := NewToken(PersonalTokenPrefix)
	if got := TokenDisplayPrefix(tok); got != tok[:10] || !strings.HasPrefix(got, "bwk_") || len(got) != 10 {
		t.Fatalf("display prefix %q of %q", got, tok)
	}
	r43 := strings.Repeat("A", 43)
	tests := map[string]string{
		"bwk_Ab3dE9" + r43[6:]:  "bwk_Ab3dE9",
		"gw_" + r43:             "gw_AAAAAA",
		"":                      "",
		"bwk_":                  "",
		"bwk_short":             "",
		"_" + r43:               "",
		"bwk_" + r43 + "A":      "",
		"bwk_" + r43[:42] + "-": "",
		"bwk_" + r43[:42] + "_": "",
		"Bearer bwk_" + r43:     "",
		"sk-" + r43:             "",
		"bwk_" + r43 + "\n":     "",
	}
	for in, want := range tests {
		if got := TokenDisplayPrefix(in); got != want {
			t.Errorf("TokenDisplayPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := NewSessionToken()
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) != 32 || len(tok) != 43 {
			t.Fatalf("session token %q: %d bytes, %v", tok, len(b), err)
		}
		if seen[tok] {
			t.Fatal("duplicate session token")
		}
		seen[tok] = true
	}
}

func TestSessionID(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	id := SessionID(key, "cookie-value")
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cookie-value"))
	if id != hex.EncodeToString(m.Sum(nil)) {
		t.Fatal("SessionID is not hex HMAC-SHA256(key, token)")
	}
	if id != SessionID(key, "cookie-value") {
		t.Fatal("SessionID is not stable")
	}
	if id == SessionID([]byte("another key, another key, 32 b!!"), "cookie-value") {
		t.Fatal("SessionID ignores the key")
	}
	if id == SessionID(key, "cookie-valuf") {
		t.Fatal("SessionID ignores the token")
	}
	if strings.Contains(id, "cookie") {
		t.Fatal("id contains the token")
	}
	// RFC 4231 test case 2, as a fixed point for stability across releases.
	if got := SessionID([]byte("Jefe"), "what do ya want for nothing?"); got != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Fatalf("RFC 4231 vector: %s", got)
	}
}

func TestCSRF(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	sid := SessionID(key, "cookie")
	tok := CSRFToken(key, sid)
	if b, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(b) != 32 {
		t.Fatalf("CSRF token %q: %v", tok, err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("csrf:" + sid))
	if tok != base64.RawURLEncoding.EncodeToString(m.Sum(nil)) {
		t.Fatal("CSRFToken is not base64url HMAC-SHA256(key, \"csrf:\"+sessionID)")
	}
	if !CheckCSRF(key, sid, tok) {
		t.Fatal("own token refused")
	}
	otherSID := SessionID(key, "other cookie")
	refuse := map[string]struct {
		key       []byte
		sid, pres string
	}{
		"other session":   {key, otherSID, tok},
		"other key":       {[]byte("another key, another key, 32 b!!"), sid, tok},
		"empty presented": {key, sid, ""},
		"empty session":   {key, "", CSRFToken(key, "")},
		"empty key":       {nil, sid, CSRFToken(nil, sid)},
		"truncated":       {key, sid, tok[:len(tok)-1]},
		"extended":        {key, sid, tok + "A"},
		"padded":          {key, sid, tok + "="},
		"session id":      {key, sid, sid},
		"flipped char":    {key, sid, flip(tok)},
	}
	for name, c := range refuse {
		if CheckCSRF(c.key, c.sid, c.pres) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}
