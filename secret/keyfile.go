package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ParseKey decodes a 32-byte key given as standard base64, base64url (with
// or without padding) or 64 hex characters, the forms `openssl rand` and
// most secret managers produce.
func ParseKey(s string) ([]byte, error) {
	key, err := parseKeySize(s, KeySize)
	if err != nil {
		return nil, fmt.Errorf("secret: %w (generate one with `openssl rand -base64 32`)", err)
	}
	return key, nil
}

// parseKeySize decodes a key of exactly size bytes. Errors never quote s.
func parseKeySize(s string, size int) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("key is empty")
	}
	// Hex first: 64 hex characters are also valid base64 (of 48 bytes).
	if len(s) == 2*size {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != size {
			return nil, fmt.Errorf("key must be %d bytes, but it decodes to %d", size, len(b))
		}
		return b, nil
	}
	return nil, fmt.Errorf("key must be %d bytes encoded as base64 or %d hex characters", size, 2*size)
}

// maxKeyFile bounds what LoadOrCreateKeyFile reads: a key file is a line of
// base64, and a huge file at that path is a mistake, not a key.
const maxKeyFile = 64 << 10

// LoadOrCreateKeyFile returns the size-byte key stored at path, creating it
// with fresh random bytes (base64, mode 0600, parent directory 0700) when
// the file does not exist. created reports whether this call wrote it.
//
// Creation is atomic and never overwrites: the key is written to a temporary
// file, synced, then hard-linked into place, which fails if path exists. So
// a crash never leaves a truncated key, and when several processes start at
// once they all end up with the one key that won.
//
// An existing file readable by group or others is refused rather than used:
// the key protects every stored credential.
func LoadOrCreateKeyFile(path string, size int) (key []byte, created bool, err error) {
	if size < 16 || size > 1024 {
		return nil, false, fmt.Errorf("secret: key size %d out of range 16..1024", size)
	}
	key, err = readKeyFile(path, size)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("secret: create key directory: %w", err)
	}
	key = make([]byte, size)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("secret: generate key: %w", err)
	}
	tmp, err := writeTemp(dir, filepath.Base(path), []byte(base64.StdEncoding.EncodeToString(key)+"\n"))
	if err != nil {
		return nil, false, fmt.Errorf("secret: write key file: %w", err)
	}
	defer os.Remove(tmp) // after a successful link, path keeps the data

	switch err := os.Link(tmp, path); {
	case err == nil:
		syncDir(dir)
		return key, true, nil
	case errors.Is(err, fs.ErrExist):
		// Another process (or goroutine) won the race: use its key.
		key, err = readKeyFile(path, size)
		return key, false, err
	}
	// The file system cannot hard-link (some FUSE and network mounts). Fall
	// back to rename, which may replace a file created in the instant since
	// the check; acceptable on such systems, and still never truncated.
	if _, err := os.Lstat(path); err == nil {
		key, err = readKeyFile(path, size)
		return key, false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, false, fmt.Errorf("secret: install key file: %w", err)
	}
	syncDir(dir)
	return key, true, nil
}

// readKeyFile reads and checks an existing key file. It wraps
// fs.ErrNotExist when there is none.
func readKeyFile(path string, size int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secret: open key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checked file is the read one.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	// Windows has no Unix permission bits; its ACLs are out of scope here.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret: key file %s is accessible by other users (mode %04o); restrict it with `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("secret: read key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("secret: key file %s is too large to be a key", path)
	}
	key, err := parseKeySize(string(data), size)
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s: %w; fix it or move it away to have a new key generated (data encrypted with the old key will then be unreadable)", path, err)
	}
	return key, nil
}

// writeTemp writes data to a new 0600 file in dir and syncs it, so the
// content is durable before the file becomes visible under its final name.
func writeTemp(dir, base string, data []byte) (string, error) {
	// CreateTemp opens with O_EXCL and mode 0600.
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir makes a new directory entry durable. Best effort: not every
// platform can fsync a directory, and the file content is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
