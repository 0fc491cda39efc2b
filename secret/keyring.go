// Package secret encrypts values at rest and manages the key material
// Bulwark generates on first run.
//
// Encrypted values are text, so they fit any column type in both database
// engines: "v1:<kid>:<base64url(nonce||ciphertext)>". The key id (kid) lets a
// keyring hold several keys, so rotating the primary key never strands data
// written under an older one.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of an encryption key: AES-256.
const KeySize = 32

const (
	version  = "v1"
	kidLen   = 8  // hex characters
	nonceLen = 12 // the GCM standard nonce size
	tagLen   = 16
)

// Errors returned by Decrypt, for errors.Is. Their messages never contain
// plaintext or key bytes.
var (
	ErrMalformed  = errors.New("secret: malformed encrypted value")
	ErrUnknownKey = errors.New("secret: encrypted with a key that is not configured")
	ErrDecrypt    = errors.New("secret: decryption failed")
)

// b64 is the payload encoding. Strict decoding rejects non-zero trailing
// bits, so each payload has exactly one text form and a changed character
// can never decode to the same bytes.
var b64 = base64.RawURLEncoding.Strict()

// Keyring encrypts with its primary key and decrypts with any key it holds.
// It is safe for concurrent use. It does not keep the raw key bytes.
type Keyring struct {
	primary string                 // kid of the primary key
	aeads   map[string]cipher.AEAD // by kid
}

// KeyID returns the id of a raw key: the first 8 hex characters of its
// SHA-256. It is derived rather than configured so it cannot drift out of
// step with the key, and it reveals nothing usable about the key.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])[:kidLen]
}

// NewKeyring builds a keyring that encrypts with primary and can still
// decrypt values written under any of the old keys. Every key must be
// exactly 32 bytes.
func NewKeyring(primary []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: make(map[string]cipher.AEAD, 1+len(old))}
	for i, key := range append([][]byte{primary}, old...) {
		what := "primary encryption key"
		if i > 0 {
			what = fmt.Sprintf("old encryption key #%d", i)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("secret: %s must be exactly %d bytes, got %d", what, KeySize, len(key))
		}
		kid := KeyID(key)
		if i == 0 {
			k.primary = kid
		}
		if _, dup := k.aeads[kid]; dup {
			continue // the same key listed twice: harmless
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("secret: %s: %w", what, err)
		}
		// NewGCMWithRandomNonce draws a fresh 12-byte nonce from crypto/rand
		// for every Seal and prepends it, so nonce handling cannot go wrong here.
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("secret: %s: %w", what, err)
		}
		k.aeads[kid] = aead
	}
	return k, nil
}

// PrimaryID returns the key id new values are encrypted with.
func (k *Keyring) PrimaryID() string { return k.primary }

// Encrypt seals plaintext with the primary key. associatedData is
// authenticated but not stored; pass something that identifies where the
// value lives (e.g. "proxy:42:upstream_key") so a ciphertext copied to
// another row fails to decrypt.
func (k *Keyring) Encrypt(plaintext, associatedData []byte) (string, error) {
	if k == nil || k.aeads == nil {
		return "", errors.New("secret: keyring is not initialised")
	}
	sealed := k.aeads[k.primary].Seal(nil, nil, plaintext, associatedData)
	return version + ":" + k.primary + ":" + b64.EncodeToString(sealed), nil
}

// Decrypt opens a value produced by Encrypt with the key it names, so values
// written before a key rotation still decrypt while the old key is kept.
func (k *Keyring) Decrypt(ciphertext string, associatedData []byte) ([]byte, error) {
	if k == nil || k.aeads == nil {
		return nil, errors.New("secret: keyring is not initialised")
	}
	kid, raw, err := parse(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[kid]
	if !ok {
		return nil, fmt.Errorf("%w: the value was encrypted with key id %s; configure that key as an old encryption key so it can be decrypted (and re-encrypted with the primary key %s)", ErrUnknownKey, kid, k.primary)
	}
	plaintext, err := aead.Open(nil, nil, raw, associatedData)
	if err != nil {
		// Deliberately vague: tampering, a wrong associated data and a
		// colliding key id all look the same and must not be told apart.
		return nil, fmt.Errorf("%w: the value was modified or belongs to a different record (key id %s)", ErrDecrypt, kid)
	}
	if plaintext == nil {
		plaintext = []byte{} // a decrypted empty value is empty, not absent
	}
	return plaintext, nil
}

// NeedsRotation reports whether ciphertext is not a well-formed value under
// the primary key: written with an old key (re-encrypt it), or not an
// encrypted value at all (Decrypt will say why). A rotation job can
// therefore rewrite exactly the values for which this returns true.
func (k *Keyring) NeedsRotation(ciphertext string) bool {
	kid, _, err := parse(ciphertext)
	return err != nil || k == nil || kid != k.primary
}

// EncryptString is Encrypt for string values.
func (k *Keyring) EncryptString(plaintext, associatedData string) (string, error) {
	return k.Encrypt([]byte(plaintext), []byte(associatedData))
}

// DecryptString is Decrypt for string values.
func (k *Keyring) DecryptString(ciphertext, associatedData string) (string, error) {
	b, err := k.Decrypt(ciphertext, []byte(associatedData))
	return string(b), err
}

// parse splits "v1:<kid>:<payload>", checks the kid's shape and decodes
// the payload. Errors do not quote the input: it may be a plaintext secret
// stored by mistake.
func parse(s string) (kid string, raw []byte, err error) {
	ver, rest, ok := strings.Cut(s, ":")
	if !ok || ver != version {
		return "", nil, fmt.Errorf("%w: expected %s:<key id>:<data>", ErrMalformed, version)
	}
	kid, payload, ok := strings.Cut(rest, ":")
	if !ok || len(kid) != kidLen || !isLowerHex(kid) {
		return "", nil, fmt.Errorf("%w: key id must be %d lower-case hex characters", ErrMalformed, kidLen)
	}
	// encoding/base64 skips '\r' and '\n'; refuse them so that, like every
	// other change to the text, they cannot leave a value decryptable.
	raw, err = b64.DecodeString(payload)
	if err != nil || strings.ContainsAny(payload, "\r\n") {
		return "", nil, fmt.Errorf("%w: data is not unpadded base64url", ErrMalformed)
	}
	if len(raw) < nonceLen+tagLen {
		return "", nil, fmt.Errorf("%w: data is too short to be encrypted", ErrMalformed)
	}
	return kid, raw, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
