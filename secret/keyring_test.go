package secret

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newRing(t testing.TB, primary []byte, old ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(primary, old...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var formatRE = regexp.MustCompile(`^v1:[0-9a-f]{8}:[A-Za-z0-9_-]+$`)

func TestRoundTrip(t *testing.T) {
	k := newRing(t, newKey(t))
	for _, pt := range [][]byte{{}, []byte("x"), []byte("sk-live-0123456789"), bytes.Repeat([]byte{0, 0xff}, 5000)} {
		ad := []byte("proxy:1:upstream_key")
		ct, err := k.Encrypt(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		if !formatRE.MatchString(ct) {
			t.Fatalf("format: %q", ct)
		}
		if !strings.HasPrefix(ct, "v1:"+k.PrimaryID()+":") {
			t.Fatalf("kid: %q, primary %s", ct, k.PrimaryID())
		}
		got, err := k.Decrypt(ct, ad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) || got == nil {
			t.Fatalf("round trip: got %d bytes, want %d", len(got), len(pt))
		}
		raw, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(ct, ":", 3)[2])
		if len(raw) != nonceLen+len(pt)+tagLen {
			t.Fatalf("payload length %d, want nonce+pt+tag = %d", len(raw), nonceLen+len(pt)+tagLen)
		}
		if k.NeedsRotation(ct) {
			t.Fatal("fresh value needs rotation")
		}
	}
	s, err := k.EncryptString("hello", "ad")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.DecryptString(s, "ad"); err != nil || got != "hello" {
		t.Fatalf("DecryptString = %q, %v", got, err)
	}
}

func TestNonceIsRandom(t *testing.T) {
	k := newRing(t, newKey(t))
	a, _ := k.EncryptString("same", "")
	b, _ := k.EncryptString("same", "")
	if a == b {
		t.Fatal("two encryptions of the same value are identical")
	}
}

func TestKeyID(t *testing.T) {
	key := bytes.Repeat([]byte{1}, KeySize)
	// sha256 of 32 0x01 bytes starts with 72cd6e84.
	if got := KeyID(key); got != "72cd6e84" {
		t.Fatalf("KeyID = %s", got)
	}
	if newRing(t, key).PrimaryID() != "72cd6e84" {
		t.Fatal("PrimaryID differs from KeyID")
	}
}

func TestNewKeyringKeySizes(t *testing.T) {
	good := newKey(t)
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewKeyring(make([]byte, n)); err == nil || !strings.Contains(err.Error(), "exactly 32 bytes") {
			t.Errorf("primary of %d bytes: err = %v", n, err)
		}
		if _, err := NewKeyring(good, good, make([]byte, n)); err == nil || !strings.Contains(err.Error(), "old encryption key #2") {
			t.Errorf("old key of %d bytes: err = %v", n, err)
		}
	}
	if _, err := NewKeyring(good, good, good); err != nil {
		t.Fatalf("duplicate keys: %v", err)
	}
}

func TestTamperDetection(t *testing.T) {
	k := newRing(t, newKey(t))
	ct, err := k.Encrypt([]byte("top secret value"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	prefix := ct[:strings.LastIndexByte(ct, ':')+1]
	raw, err := base64.RawURLEncoding.DecodeString(ct[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		mod := bytes.Clone(raw)
		mod[i] ^= 0x01
		_, err := k.Decrypt(prefix+base64.RawURLEncoding.EncodeToString(mod), []byte("ad"))
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d flipped: err = %v", i, err)
		}
		if strings.Contains(err.Error(), "top secret") {
			t.Fatal("error leaks plaintext")
		}
	}
	// Changing any character of the text form must fail too (strict base64).
	for i := len(prefix); i < len(ct); i++ {
		b := []byte(ct)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := k.Decrypt(string(b), []byte("ad")); err == nil {
			t.Fatalf("character %d changed: decrypted", i)
		}
	}
	// Truncation.
	if _, err := k.Decrypt(ct[:len(ct)-4], []byte("ad")); err == nil {
		t.Fatal("truncated value decrypted")
	}
}

func TestWrongAssociatedData(t *testing.T) {
	k := newRing(t, newKey(t))
	ct, _ := k.Encrypt([]byte("v"), []byte("proxy:1"))
	for _, ad := range [][]byte{nil, []byte("proxy:2"), []byte("proxy:1 ")} {
		if _, err := k.Decrypt(ct, ad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("ad %q: err = %v", ad, err)
		}
	}
	// nil and empty associated data are the same thing to GCM.
	ct, _ = k.Encrypt([]byte("v"), nil)
	if _, err := k.Decrypt(ct, []byte{}); err != nil {
		t.Fatal(err)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey_ := newKey(t), newKey(t)
	before := newRing(t, oldKey)
	ct, err := before.EncryptString("upstream-api-key", "row:7")
	if err != nil {
		t.Fatal(err)
	}

	after := newRing(t, newKey_, oldKey)
	if after.PrimaryID() == before.PrimaryID() {
		t.Fatal("primary did not change")
	}
	if !after.NeedsRotation(ct) {
		t.Fatal("value under old key does not need rotation")
	}
	pt, err := after.DecryptString(ct, "row:7")
	if err != nil || pt != "upstream-api-key" {
		t.Fatalf("decrypt after rotation = %q, %v", pt, err)
	}
	re, err := after.EncryptString(pt, "row:7")
	if err != nil {
		t.Fatal(err)
	}
	if after.NeedsRotation(re) {
		t.Fatal("re-encrypted value still needs rotation")
	}
	// Once the old key is dropped, the new value still decrypts.
	final := newRing(t, newKey_)
	if got, err := final.DecryptString(re, "row:7"); err != nil || got != pt {
		t.Fatalf("after dropping old key = %q, %v", got, err)
	}
}

func TestUnknownKeyID(t *testing.T) {
	oldKey := newKey(t)
	ct, _ := newRing(t, oldKey).EncryptString("v", "")
	k := newRing(t, newKey(t))
	_, err := k.DecryptString(ct, "")
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, KeyID(oldKey)) || !strings.Contains(msg, "old encryption key") {
		t.Fatalf("error does not name the key id and the fix: %s", msg)
	}
}

func TestMalformed(t *testing.T) {
	k := newRing(t, newKey(t))
	valid, _ := k.EncryptString("v", "")
	kid := k.PrimaryID()
	payload := valid[len("v1:")+kidLen+1:]
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformed},
		{"plaintext", "sk-plaintext-api-key", ErrMalformed},
		{"no version", ":" + kid + ":" + payload, ErrMalformed},
		{"wrong version", "v2:" + kid + ":" + payload, ErrMalformed},
		{"upper version", "V1:" + kid + ":" + payload, ErrMalformed},
		{"missing kid", "v1:" + payload, ErrMalformed},
		{"empty kid", "v1::" + payload, ErrMalformed},
		{"short kid", "v1:" + kid[:7] + ":" + payload, ErrMalformed},
		{"long kid", "v1:" + kid + "0:" + payload, ErrMalformed},
		{"upper-case kid", "v1:" + strings.ToUpper("abcdef12") + ":" + payload, ErrMalformed},
		{"non-hex kid", "v1:zzzzzzzz:" + payload, ErrMalformed},
		{"empty payload", "v1:" + kid + ":", ErrMalformed},
		{"padded payload", "v1:" + kid + ":" + payload + "=", ErrMalformed},
		{"std base64 payload", "v1:" + kid + ":" + strings.NewReplacer("-", "+", "_", "/").Replace(payload) + "+/", ErrMalformed},
		{"bad base64", "v1:" + kid + ":!!!!", ErrMalformed},
		{"too short", "v1:" + kid + ":" + base64.RawURLEncoding.EncodeToString(make([]byte, nonceLen+tagLen-1)), ErrMalformed},
		{"extra field", valid + ":x", ErrMalformed},
		{"whitespace", " " + valid, ErrMalformed},
		{"line break in data", valid[:len(valid)-4] + "\r\n" + valid[len(valid)-4:], ErrMalformed},
		{"trailing newline", valid + "\n", ErrMalformed},
		{"garbage right length", "v1:" + kid + ":" + base64.RawURLEncoding.EncodeToString(make([]byte, nonceLen+tagLen)), ErrDecrypt},
		{"unknown kid", "v1:00000000:" + payload, ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.DecryptString(tc.in, "")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.in != "" && len(tc.in) > 12 && strings.Contains(err.Error(), tc.in) {
				t.Fatalf("error echoes the input: %v", err)
			}
			if !k.NeedsRotation(tc.in) && tc.want == ErrMalformed {
				t.Fatal("malformed value does not need rotation")
			}
		})
	}
}

func TestNilKeyring(t *testing.T) {
	var k *Keyring
	if _, err := k.Encrypt([]byte("x"), nil); err == nil {
		t.Fatal("nil keyring encrypted")
	}
	if _, err := k.Decrypt("v1:00000000:AAAA", nil); err == nil {
		t.Fatal("nil keyring decrypted")
	}
	if !k.NeedsRotation("v1:00000000:AAAA") {
		t.Fatal("nil keyring: NeedsRotation false")
	}
}

func FuzzDecrypt(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	k, err := NewKeyring(key, bytes.Repeat([]byte{9}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	for _, pt := range []string{"", "a", "sk-0123456789abcdef"} {
		ct, _ := k.EncryptString(pt, "ad")
		f.Add(ct, []byte("ad"))
	}
	f.Add("v1:"+k.PrimaryID()+":", []byte(nil))
	f.Add("v1:00000000:AAAA", []byte(nil))
	f.Add("v1::::", []byte("x"))
	f.Add("v1:4bb06f8e:RxS0HpJwphrRwYz31W_1HvUXzLapdAw_7\rkN_Fk4", []byte("ad")) // base64 skips \r
	f.Fuzz(func(t *testing.T, ct string, ad []byte) {
		pt, err := k.Decrypt(ct, ad)
		if err == nil {
			// Only a genuine value can authenticate: re-encrypting must
			// round-trip, and the input must be in canonical form.
			if !formatRE.MatchString(ct) {
				t.Fatalf("accepted non-canonical input %q", ct)
			}
			again, err := k.Encrypt(pt, ad)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := k.Decrypt(again, ad); err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("re-encrypt round trip: %v", err)
			}
		} else if pt != nil {
			t.Fatal("plaintext returned with an error")
		}
		_ = k.NeedsRotation(ct)
	})
}
