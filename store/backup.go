package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// BackupInfo describes a finished backup.
type BackupInfo struct {
	File     string // absolute path of the copy
	Bytes    int64
	Duration time.Duration
	Engine   string
}

// PostgresBackupHint is the command Backup's refusal on PostgreSQL suggests.
const PostgresBackupHint = `pg_dump --format=custom --file=bulwark.dump "$BULWARK_DATABASE_URL"`

// Backup writes a consistent copy of a SQLite database to dest while the
// database stays in use: VACUUM INTO reads one snapshot (a WAL read
// transaction, so writers carry on) into a new, compacted database file.
//
// dest must not exist: a backup never overwrites a file, not even an older
// backup. The copy is written owner-only (it holds password and token
// hashes and encrypted credentials) under a temporary name in dest's
// directory, synced, and only then linked to dest, so dest is either absent
// or complete, even after a crash.
//
// PostgreSQL is refused with a CodeUnprocessable error pointing at pg_dump:
// a consistent logical dump of a server database is its own tools' job.
func (db *DB) Backup(ctx context.Context, dest string) (BackupInfo, error) {
	start := time.Now()
	if db.d.name != EngineSQLite {
		return BackupInfo{}, &bulwark.Error{Code: bulwark.CodeUnprocessable, Message: "bulwark backup copies SQLite databases only; " +
			"back up PostgreSQL with its own tools, e.g. " + PostgresBackupHint + " (restore with pg_restore)"}
	}
	if dest == "" {
		return BackupInfo{}, bulwark.Errorf(bulwark.CodeInvalid, "backup destination is empty: name the file to write")
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup destination %q: %w", dest, err)
	}
	if abs == db.path {
		return BackupInfo{}, bulwark.Errorf(bulwark.CodeConflict, "backup destination %s is the database itself: choose another file", abs)
	}
	if err := checkBackupDest(abs); err != nil {
		return BackupInfo{}, err
	}

	tmp, err := createBackupTemp(abs)
	if err != nil {
		return BackupInfo{}, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.Remove(tmp)
			_ = os.Remove(tmp + "-journal")
		}
	}()
	// The reader pool is enough: VACUUM INTO only reads the source, and a
	// reader does not queue behind (or hold up) the single writer.
	if err := retryBusy(ctx, 30*time.Second, func() error {
		_, err := db.r.ExecContext(ctx, `VACUUM INTO $1`, tmp)
		return err
	}); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	// Link refuses an existing name, unlike rename, so a file created at dest
	// while the copy ran is not replaced.
	if err := os.Link(tmp, abs); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return BackupInfo{}, existsError(abs)
		}
		return BackupInfo{}, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	committed = true
	_ = os.Remove(tmp)
	if err := syncFile(filepath.Dir(abs)); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup to %s: sync directory: %w", abs, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	return BackupInfo{File: abs, Bytes: st.Size(), Duration: time.Since(start), Engine: EngineSQLite}, nil
}

func checkBackupDest(abs string) error {
	_, err := os.Lstat(abs)
	switch {
	case err == nil:
		return existsError(abs)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: backup destination %s: %w", abs, err)
	}
	dir := filepath.Dir(abs)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return bulwark.Errorf(bulwark.CodeInvalid, "backup directory %s does not exist: create it first", dir)
	}
	return nil
}

func existsError(abs string) error {
	return bulwark.Errorf(bulwark.CodeConflict, "backup destination %s already exists: choose a new file name or move the old file away", abs)
}

// createBackupTemp creates an empty owner-only file next to abs; VACUUM INTO
// accepts an empty file as its target and keeps its permissions.
func createBackupTemp(abs string) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-"+hex.EncodeToString(b[:]))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("store: backup to %s: %w", abs, err)
	}
	return tmp, f.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}
