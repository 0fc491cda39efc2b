package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/bulwarkhq/bulwark"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB  uint32
	Iterations uint32
	Threads    uint8
	SaltLen    uint32 // bytes
	KeyLen     uint32 // bytes
}

// DefaultParams are OWASP's minimum recommendation for argon2id
// (19 MiB, 2 iterations, 1 thread): roughly 20–40 ms per hash on a server.
var DefaultParams = Params{MemoryKiB: 19456, Iterations: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// TestParams make hashing nearly free in tests. Never use them in production.
var TestParams = Params{MemoryKiB: 64, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, whether configured or parsed from a stored hash. A
// crafted hash in the database must not make one login allocate gigabytes
// or spin for minutes.
const (
	maxMemoryKiB  = 1 << 20 // 1 GiB
	maxIterations = 100
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
	maxPHCLen     = 512 // comfortably above the longest valid string (~230)
)

// Errors for errors.Is.
var (
	// ErrPasswordTooLong is returned, before any hashing, for passwords over
	// bulwark.MaxPasswordLen bytes: argon2 cost grows with input length.
	ErrPasswordTooLong = fmt.Errorf("auth: password is longer than %d bytes", bulwark.MaxPasswordLen)
	// ErrInvalidHash means a stored hash cannot be used; the wrapped message says why.
	ErrInvalidHash = errors.New("auth: invalid password hash")
)

func (p Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("iterations must be 1..%d", maxIterations)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		// argon2 needs 8 KiB per thread; it would silently raise a lower value,
		// making the stored parameters lie about the work done.
		return fmt.Errorf("memory must be 8 KiB per thread up to %d KiB (1 GiB)", maxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length must be %d..%d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length must be %d..%d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// argonSlots bounds concurrent argon2 computations. Each one holds
// MemoryKiB (19 MiB by default) for its whole run, so without a bound a
// flood of login attempts allocates flood×19 MiB and can kill the process.
// argon2 is CPU-bound, so more concurrent runs than CPUs would not finish
// sooner anyway; excess callers wait here instead of holding memory.
var argonSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

func deriveKey(password string, salt []byte, p Params) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Threads, p.KeyLen)
}

// Hasher hashes and verifies passwords with argon2id. The zero Hasher uses
// DefaultParams. It is safe for concurrent use.
type Hasher struct {
	Params Params
}

func (h Hasher) params() Params {
	if h.Params == (Params{}) {
		return DefaultParams
	}
	return h.Params
}

// Hash returns password's argon2id hash in PHC string format:
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<threads>$<salt>$<hash>,
// with unpadded standard base64, as other argon2 tools read and write it.
func (h Hasher) Hash(password string) (string, error) {
	if len(password) > bulwark.MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	p := h.params()
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("auth: hasher parameters: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: generate salt: %w", err)
	}
	return formatPHC(p, salt, deriveKey(password, salt, p)), nil
}

// Verify reports whether password matches the PHC hash, and whether the
// hash was made with parameters other than h's, in which case the caller
// should store a fresh Hash now that it has the plaintext. err is set only
// when the stored hash is unusable or the password too long; a wrong
// password is (false, false, nil).
func (h Hasher) Verify(password, phc string) (ok bool, needsRehash bool, err error) {
	if len(password) > bulwark.MaxPasswordLen {
		return false, false, ErrPasswordTooLong
	}
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := deriveKey(password, salt, p)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.params(), nil
}

// DummyVerify does the work of a real Verify against a hash made with h's
// parameters and discards the result. Call it when a login names an unknown
// user, so the response takes as long as for a known user with a wrong
// password and does not reveal which usernames exist.
func (h Hasher) DummyVerify(password string) {
	p := h.params()
	// Salt and hash content do not affect the cost; only the lengths and
	// parameters do, and they match what Hash produces.
	_, _, _ = h.Verify(password, formatPHC(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen)))
}

var phcB64 = base64.RawStdEncoding.Strict()

func formatPHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
}

// parsePHC parses and bounds-checks an argon2id PHC string. It accepts only
// the canonical form formatPHC writes, so every accepted string has exactly
// one meaning. Errors wrap ErrInvalidHash and never quote the input.
func parsePHC(phc string) (p Params, salt, key []byte, err error) {
	fail := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidHash}, args...)...)
	}
	if len(phc) > maxPHCLen {
		return fail("longer than %d bytes", maxPHCLen)
	}
	// encoding/base64 skips '\r' and '\n'; refusing them keeps the form canonical.
	if strings.ContainsAny(phc, "\r\n") {
		return fail("contains a line break")
	}
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("not a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("argon2 version is not %d", argon2.Version)
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return fail("parameters must be m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		bits := 32
		if name == "p" {
			bits = 8
		}
		n, perr := strconv.ParseUint(v, 10, bits)
		if !ok || perr != nil || len(v) > 1 && v[0] == '0' {
			return fail("parameter %d must be %s=<%d-bit number>", i+1, name, bits)
		}
		vals[i] = n
	}
	p = Params{MemoryKiB: uint32(vals[0]), Iterations: uint32(vals[1]), Threads: uint8(vals[2])}
	if salt, err = phcB64.DecodeString(parts[4]); err != nil {
		return fail("salt is not unpadded base64")
	}
	if key, err = phcB64.DecodeString(parts[5]); err != nil {
		return fail("hash is not unpadded base64")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return fail("%v", err)
	}
	return p, salt, key, nil
}
