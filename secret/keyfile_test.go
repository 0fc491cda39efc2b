package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i*7 + 0xf8) // includes bytes that encode to + / - _
	}
	good := map[string]string{
		"std":           base64.StdEncoding.EncodeToString(key),
		"std raw":       base64.RawStdEncoding.EncodeToString(key),
		"url":           base64.URLEncoding.EncodeToString(key),
		"url raw":       base64.RawURLEncoding.EncodeToString(key),
		"hex":           hex.EncodeToString(key),
		"hex upper":     strings.ToUpper(hex.EncodeToString(key)),
		"trailing \\n":  base64.StdEncoding.EncodeToString(key) + "\n",
		"surrounding ␠": "  " + hex.EncodeToString(key) + " ",
	}
	for name, s := range good {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: ParseKey = %x, %v", name, got, err)
		}
	}
	bad := map[string]string{
		"empty":          "",
		"spaces":         "   ",
		"16 bytes":       base64.StdEncoding.EncodeToString(key[:16]),
		"33 bytes":       base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 0)),
		"hex 31 bytes":   hex.EncodeToString(key[:31]),
		"hex 65 chars":   hex.EncodeToString(key) + "0",
		"not encoded":    "this is not a key at all, honestly!!",
		"mixed alphabet": base64.StdEncoding.EncodeToString(key)[:20] + "-_" + base64.StdEncoding.EncodeToString(key)[22:],
	}
	for name, s := range bad {
		_, err := ParseKey(s)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "openssl rand") {
			t.Errorf("%s: error gives no remedy: %v", name, err)
		}
		if len(s) > 8 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
			t.Errorf("%s: error echoes the input", name)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	path := filepath.Join(dir, "encryption.key")

	key, created, err := LoadOrCreateKeyFile(path, KeySize)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("first call: %d bytes, created=%v, %v", len(key), created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Fatalf("key file mode %04o, want 0600", got)
		}
		di, _ := os.Stat(dir)
		if got := di.Mode().Perm(); got != 0o700 {
			t.Fatalf("key dir mode %04o, want 0700", got)
		}
	}
	data, _ := os.ReadFile(path)
	if want := base64.StdEncoding.EncodeToString(key) + "\n"; string(data) != want {
		t.Fatalf("file content %q, want base64 + newline", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	again, created, err := LoadOrCreateKeyFile(path, KeySize)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second call: created=%v, same=%v, %v", created, bytes.Equal(again, key), err)
	}

	// Other sizes, e.g. a 64-byte HMAC key.
	k64, created, err := LoadOrCreateKeyFile(filepath.Join(dir, "session.key"), 64)
	if err != nil || !created || len(k64) != 64 {
		t.Fatalf("64-byte key: %d bytes, %v", len(k64), err)
	}
	// A file holding a key of the wrong size is refused, not silently replaced.
	if _, _, err := LoadOrCreateKeyFile(filepath.Join(dir, "session.key"), KeySize); err == nil {
		t.Fatal("64-byte key file accepted as 32-byte key")
	}
}

func TestLoadOrCreateKeyFileAcceptsHandWrittenKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	key := bytes.Repeat([]byte{0xab}, KeySize)
	if err := os.WriteFile(path, []byte("  "+hex.EncodeToString(key)+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, created, err := LoadOrCreateKeyFile(path, KeySize)
	if err != nil || created || !bytes.Equal(got, key) {
		t.Fatalf("got %x, created=%v, %v", got, created, err)
	}
}

func TestLoadOrCreateKeyFileRefusesOpenPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "encryption.key")
	if _, _, err := LoadOrCreateKeyFile(path, KeySize); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKeyFile(path, KeySize)
		if err == nil {
			t.Fatalf("mode %04o accepted", mode)
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("mode %04o: error does not say how to fix: %v", mode, err)
		}
	}
	// 0400 is fine: only the owner can read it.
	os.Chmod(path, 0o400)
	if _, _, err := LoadOrCreateKeyFile(path, KeySize); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
}

func TestLoadOrCreateKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("changeme\n"), 0o600)
	_, _, err := LoadOrCreateKeyFile(bad, KeySize)
	if err == nil || strings.Contains(err.Error(), "changeme") {
		t.Fatalf("invalid key file: %v", err)
	}
	empty := filepath.Join(dir, "empty.key")
	os.WriteFile(empty, nil, 0o600)
	if _, _, err := LoadOrCreateKeyFile(empty, KeySize); err == nil {
		t.Fatal("empty key file accepted")
	}
	if _, _, err := LoadOrCreateKeyFile(dir, KeySize); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory as key file: %v", err)
	}
	for _, size := range []int{0, -1, 8, 4096} {
		if _, _, err := LoadOrCreateKeyFile(filepath.Join(dir, "n.key"), size); err == nil {
			t.Fatalf("size %d accepted", size)
		}
	}
	// The parent path is a file: MkdirAll fails.
	if _, _, err := LoadOrCreateKeyFile(filepath.Join(bad, "x.key"), KeySize); err == nil {
		t.Fatal("key under a file accepted")
	}
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "sub", "encryption.key")
		const n = 8
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			keys    [n][]byte
			created [n]bool
			errs    [n]error
		)
		for i := range n {
			wg.Go(func() {
				<-start
				keys[i], created[i], errs[i] = LoadOrCreateKeyFile(path, KeySize)
			})
		}
		close(start)
		wg.Wait()
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d goroutine %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("round %d: goroutine %d got a different key", round, i)
			}
			if created[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Fatalf("round %d: %d callers report creating the file", round, creators)
		}
		onDisk, created2, err := LoadOrCreateKeyFile(path, KeySize)
		if err != nil || created2 || !bytes.Equal(onDisk, keys[0]) {
			t.Fatalf("round %d: file does not hold the returned key", round)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Fatalf("round %d: temporary files left behind: %d entries", round, len(entries))
		}
	}
}
