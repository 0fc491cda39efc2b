package auth

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

func TestHashVerify(t *testing.T) {
	h := Hasher{Params: TestParams}
	const pw = "correct horse battery staple"
	phc, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(phc) {
		t.Fatalf("not a PHC string: %s", phc)
	}
	if want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", TestParams.MemoryKiB, TestParams.Iterations, TestParams.Threads); !strings.HasPrefix(phc, want) {
		t.Fatalf("params not encoded: %s", phc)
	}
	if strings.Contains(phc, pw) {
		t.Fatal("hash contains the password")
	}

	ok, rehash, err := h.Verify(pw, phc)
	if !ok || rehash || err != nil {
		t.Fatalf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", pw + " "} {
		ok, rehash, err := h.Verify(wrong, phc)
		if ok || rehash || err != nil {
			t.Fatalf("wrong password %q: ok=%v rehash=%v err=%v", wrong, ok, rehash, err)
		}
	}

	// Salted: the same password hashes differently each time.
	again, _ := h.Hash(pw)
	if again == phc {
		t.Fatal("two hashes of the same password are equal")
	}

	// Empty and maximum-length passwords work; longer ones are refused.
	for _, p := range []string{"", strings.Repeat("é", 128)} {
		s, err := h.Hash(p)
		if err != nil {
			t.Fatalf("len %d: %v", len(p), err)
		}
		if ok, _, _ := h.Verify(p, s); !ok {
			t.Fatalf("len %d: does not verify", len(p))
		}
	}
	long := strings.Repeat("a", 257)
	if _, err := h.Hash(long); !errors.Is(err, ErrPasswordTooLong) {
		t.Fatalf("Hash(257 bytes) err = %v", err)
	}
	if ok, _, err := h.Verify(long, phc); ok || !errors.Is(err, ErrPasswordTooLong) {
		t.Fatalf("Verify(257 bytes) = %v, %v", ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	old := Hasher{Params: TestParams}
	phc, err := old.Hash("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]Params{}
	for name, mod := range map[string]func(*Params){
		"memory":     func(p *Params) { p.MemoryKiB *= 2 },
		"iterations": func(p *Params) { p.Iterations++ },
		"threads":    func(p *Params) { p.Threads++ },
		"salt":       func(p *Params) { p.SaltLen = 32 },
		"key":        func(p *Params) { p.KeyLen = 64 },
	} {
		p := TestParams
		mod(&p)
		variants[name] = p
	}
	for name, p := range variants {
		ok, rehash, err := Hasher{Params: p}.Verify("a long enough password", phc)
		if !ok || !rehash || err != nil {
			t.Errorf("%s changed: ok=%v rehash=%v err=%v", name, ok, rehash, err)
		}
		// A wrong password never asks for a rehash.
		if _, rehash, _ := (Hasher{Params: p}).Verify("wrong", phc); rehash {
			t.Errorf("%s changed: wrong password asks for rehash", name)
		}
	}
	// The zero Hasher means DefaultParams.
	if ok, rehash, _ := (Hasher{}).Verify("a long enough password", phc); !ok || !rehash {
		t.Fatalf("zero hasher: ok=%v rehash=%v", ok, rehash)
	}
}

func TestZeroHasherUsesDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("DefaultParams hash")
	}
	phc, err := Hasher{}.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("zero hasher: %s", phc)
	}
	if ok, rehash, err := (Hasher{Params: DefaultParams}).Verify("pw", phc); !ok || rehash || err != nil {
		t.Fatalf("verify: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
}

func TestHashRejectsBadParams(t *testing.T) {
	for _, p := range []Params{
		{MemoryKiB: 64, Iterations: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 64, Iterations: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 7, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 64, Iterations: 1, Threads: 9, SaltLen: 16, KeyLen: 32}, // < 8 KiB per thread
		{MemoryKiB: 2 << 20, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 64, Iterations: 101, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 64, Iterations: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{MemoryKiB: 64, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := (Hasher{Params: p}).Hash("pw"); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestParsePHCErrors(t *testing.T) {
	h := Hasher{Params: TestParams}
	good, err := h.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", alg, v, params, salt, hash
	salt, hash := parts[4], parts[5]
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + hash }
	tests := []struct{ name, phc, want string }{
		{"empty", "", "not a PHC string"},
		{"garbage", "not a hash", "not a PHC string"},
		{"no leading $", strings.TrimPrefix(good, "$"), "not a PHC string"},
		{"missing hash", strings.Join(parts[:5], "$"), "not a PHC string"},
		{"extra field", good + "$x", "not a PHC string"},
		{"bcrypt", "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", "not a PHC string"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1), "not argon2id"},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1), "not argon2id"},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$" + salt + "$" + hash + "$", "not argon2id"},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1), "version"},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + hash, "not a PHC string"},
		{"params reordered", with("t=1,m=64,p=1"), "parameter 1"},
		{"params missing", with("m=64,t=1"), "m=…,t=…,p=…"},
		{"params extra", with("m=64,t=1,p=1,k=2"), "m=…,t=…,p=…"},
		{"non-numeric", with("m=lots,t=1,p=1"), "parameter 1"},
		{"negative", with("m=64,t=-1,p=1"), "parameter 2"},
		{"plus sign", with("m=+64,t=1,p=1"), "parameter 1"},
		{"leading zero", with("m=064,t=1,p=1"), "parameter 1"},
		{"empty value", with("m=,t=1,p=1"), "parameter 1"},
		{"memory overflows uint32", with("m=4294967296,t=1,p=1"), "parameter 1"},
		{"huge memory 4 GiB", with("m=4194304,t=1,p=1"), "memory"},
		{"memory just over 1 GiB", with("m=1048577,t=1,p=1"), "memory"},
		{"memory too small", with("m=7,t=1,p=1"), "memory"},
		{"memory below 8 KiB per thread", with("m=64,t=1,p=16"), "memory"},
		{"zero iterations", with("m=64,t=0,p=1"), "iterations"},
		{"many iterations", with("m=64,t=101,p=1"), "iterations"},
		{"huge iterations", with("m=64,t=4294967295,p=1"), "iterations"},
		{"zero threads", with("m=64,t=1,p=0"), "threads"},
		{"threads overflow uint8", with("m=4096,t=1,p=256"), "parameter 3"},
		{"salt padded", strings.Replace(good, "$"+salt+"$", "$"+salt+"==$", 1), "salt"},
		{"salt bad chars", strings.Replace(good, "$"+salt+"$", "$"+salt[:4]+"-_"+salt[6:]+"$", 1), "salt"},
		{"salt short", strings.Replace(good, "$"+salt+"$", "$AAAAAA$", 1), "salt length"},
		{"salt empty", strings.Replace(good, "$"+salt+"$", "$$", 1), "salt length"},
		{"hash bad", good[:strings.LastIndexByte(good, '$')+1] + "!!!!", "hash is not"},
		{"hash short", good[:strings.LastIndexByte(good, '$')+1] + "AAAAAAAAAAA", "key length"},
		{"too long", good + strings.Repeat("A", 600), "longer than"},
		{"line break in hash", good[:len(good)-4] + "\r" + good[len(good)-4:], "line break"},
		{"trailing newline", good + "\n", "line break"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify("pw", tc.phc)
			if ok || rehash {
				t.Fatalf("ok=%v rehash=%v", ok, rehash)
			}
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("err = %v, want ErrInvalidHash", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// Hashes written by other argon2id implementations verify. This vector
// (password "password", salt "somesalt", t=2, 64 MiB, p=1) is from the
// reference implementation's test suite (phc-winner-argon2 src/test.c).
func TestReferenceVector(t *testing.T) {
	const phc = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, rehash, err := Hasher{Params: TestParams}.Verify("password", phc)
	if !ok || !rehash || err != nil {
		t.Fatalf("ok=%v rehash=%v err=%v", ok, rehash, err)
	}
}

func TestDummyVerifyDoesTheSameWork(t *testing.T) {
	for _, p := range []Params{TestParams, DefaultParams, {MemoryKiB: 256, Iterations: 3, Threads: 2, SaltLen: 24, KeyLen: 48}} {
		phc := formatPHC(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen))
		got, _, _, err := parsePHC(phc)
		if err != nil || got != p {
			t.Fatalf("dummy hash for %+v parses as %+v, %v", p, got, err)
		}
	}
	// And it runs: no panic for any password, including an over-long one.
	h := Hasher{Params: TestParams}
	h.DummyVerify("")
	h.DummyVerify("x")
	h.DummyVerify(strings.Repeat("x", 300))
}

// DummyVerify must do the same argon2 work as a real Verify, or the time a
// login takes would reveal whether the user exists. Measured by bytes
// allocated (argon2 allocates its whole memory parameter), which, unlike
// wall time, does not depend on machine load.
func TestDummyVerifyDoesTheWork(t *testing.T) {
	h := Hasher{Params: Params{MemoryKiB: 8192, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	phc, err := h.Hash("a real password")
	if err != nil {
		t.Fatal(err)
	}
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	genuine := allocated(func() { h.Verify("wrong password", phc) })
	dummy := allocated(func() { h.DummyVerify("wrong password") })
	if genuine < 8<<20 {
		t.Fatalf("Verify allocated only %d bytes; expected the 8 MiB argon2 memory", genuine)
	}
	if ratio := float64(dummy) / float64(genuine); ratio < 0.9 || ratio > 1.1 {
		t.Fatalf("DummyVerify allocated %d bytes vs Verify %d (ratio %.2f)", dummy, genuine, ratio)
	}
}

// A full semaphore makes hashing wait instead of allocating more memory.
func TestArgonConcurrencyIsBounded(t *testing.T) {
	for range cap(argonSlots) {
		argonSlots <- struct{}{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Hasher{Params: TestParams}.Hash("pw")
	}()
	select {
	case <-done:
		t.Fatal("hash ran while every slot was taken")
	case <-time.After(50 * time.Millisecond):
	}
	<-argonSlots
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("hash did not run after a slot was freed")
	}
	for range cap(argonSlots) - 1 {
		<-argonSlots
	}
}

func TestConcurrentHashVerify(t *testing.T) {
	h := Hasher{Params: TestParams}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			pw := fmt.Sprintf("password number %d", i)
			phc, err := h.Hash(pw)
			if err != nil {
				t.Error(err)
				return
			}
			if ok, _, err := h.Verify(pw, phc); !ok || err != nil {
				t.Errorf("%d: ok=%v err=%v", i, ok, err)
			}
		})
	}
	wg.Wait()
}

func FuzzVerifyPHC(f *testing.F) {
	h := Hasher{Params: TestParams}
	good, _ := h.Hash("pw")
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=64,t=1,p=0$$")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$c29tZXNhbHRzb21lc2FsdA")
	f.Add("$$$$$")
	f.Add("$argon2id$v=19$m=70,t=1,p=1$00000000000$0\r0000000000000000000000") // base64 skips \r
	f.Add("")
	f.Fuzz(func(t *testing.T, phc string) {
		p, salt, key, err := parsePHC(phc)
		if err != nil {
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("error does not wrap ErrInvalidHash: %v", err)
			}
			if ok, _, verr := h.Verify("pw", phc); ok || verr == nil {
				t.Fatal("Verify accepted what parsePHC refused")
			}
			return
		}
		if p.validate() != nil || p.MemoryKiB > maxMemoryKiB || p.Iterations > maxIterations || p.Threads < 1 {
			t.Fatalf("accepted out-of-bounds params %+v", p)
		}
		// Only canonical strings are accepted: re-formatting gives the input.
		if again := formatPHC(p, salt, key); again != phc {
			t.Fatalf("non-canonical input accepted:\n in  %q\n out %q", phc, again)
		}
		// Run the full Verify only when it is cheap, so the fuzzer explores
		// inputs instead of spending its time in argon2; the bounds above
		// already cap the expensive ones.
		if p.MemoryKiB <= 1024 && p.Iterations <= 4 && p.Threads <= 4 {
			if _, _, err := h.Verify("pw", phc); err != nil {
				t.Fatalf("Verify failed on a parsable hash: %v", err)
			}
		}
	})
}

func BenchmarkHashDefault(b *testing.B) {
	h := Hasher{Params: DefaultParams}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := Hasher{Params: DefaultParams}
	phc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, _ := h.Verify("correct horse battery staple", phc); !ok {
			b.Fatal("no match")
		}
	}
}
