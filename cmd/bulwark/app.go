package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwarkhq/bulwark/config"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/telemetry"
	"github.com/spf13/cobra"
)

// app is what every command that touches state opens.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	store *store.DB
}

func loadConfig(cmd *cobra.Command, logOut io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(cmd.Flags(), os.Environ())
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	log, err := telemetry.NewLogger(logOut, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	return cfg, log, nil
}

// openApp loads configuration, creates the data directory and opens (and
// migrates, when migrate is true) the database.
func openApp(ctx context.Context, cmd *cobra.Command, migrate bool) (*app, error) {
	cfg, log, err := loadConfig(cmd, os.Stderr)
	if err != nil {
		return nil, err
	}
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.ResolvedDatabaseURL(), store.Options{MigrateOnOpen: migrate, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", store.Redact(cfg.ResolvedDatabaseURL()), err)
	}
	return &app{cfg: cfg, log: log, store: db}, nil
}

func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data-dir %s: %w", dir, err)
	}
	return nil
}

// keys are the secrets that serve needs.
type keys struct {
	session []byte
	ring    *secret.Keyring
}

// loadKeys takes the configured secrets, refusing weak ones, or generates
// them into the data directory on first run.
func loadKeys(cfg *config.Config, log *slog.Logger) (*keys, error) {
	k := &keys{}
	if cfg.SessionKey != "" {
		if err := secret.CheckSecret("secrets.session-key (BULWARK_SECRETS_SESSION_KEY)", cfg.SessionKey, 32); err != nil {
			return nil, err
		}
		k.session = []byte(cfg.SessionKey)
	} else {
		path := filepath.Join(cfg.DataDir, "session.key")
		key, created, err := secret.LoadOrCreateKeyFile(path, 32)
		if err != nil {
			return nil, fmt.Errorf("session key: %w", err)
		}
		if created {
			log.Info("generated session key", "file", path)
		}
		k.session = key
	}

	var primary []byte
	if cfg.EncryptionKey != "" {
		if err := secret.CheckSecret("secrets.encryption-key (BULWARK_SECRETS_ENCRYPTION_KEY)", cfg.EncryptionKey, 32); err != nil {
			return nil, err
		}
		key, err := secret.ParseKey(cfg.EncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("secrets.encryption-key (BULWARK_SECRETS_ENCRYPTION_KEY): %w", err)
		}
		primary = key
	} else {
		path := filepath.Join(cfg.DataDir, "encryption.key")
		key, created, err := secret.LoadOrCreateKeyFile(path, 32)
		if err != nil {
			return nil, fmt.Errorf("encryption key: %w", err)
		}
		if created {
			log.Info("generated encryption key; back it up with the database", "file", path)
		}
		primary = key
	}
	var old [][]byte
	for i, s := range cfg.PreviousEncryptionKeys {
		key, err := secret.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("secrets.previous-encryption-keys item %d: %w", i+1, err)
		}
		old = append(old, key)
	}
	ring, err := secret.NewKeyring(primary, old...)
	if err != nil {
		return nil, err
	}
	k.ring = ring
	return k, nil
}

func printBox(w io.Writer, lines ...string) {
	width := 0
	for _, l := range lines {
		width = max(width, len(l))
	}
	bar := strings.Repeat("=", width+4)
	fmt.Fprintln(w, bar)
	for _, l := range lines {
		fmt.Fprintf(w, "| %-*s |\n", width, l)
	}
	fmt.Fprintln(w, bar)
}
