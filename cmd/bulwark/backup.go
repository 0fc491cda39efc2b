package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/config"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/spf13/cobra"
)

func newBackupCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Copy the SQLite database while Bulwark runs, and tell integrations",
		Long: `Write a consistent copy of the SQLite database that serve uses (same
--data-dir / --database-url and environment) to a new file, while Bulwark keeps
running. The file is created owner-only and never overwritten: an existing
--out file is an error.

The result is recorded as a system event, backup.completed (info) or
backup.failed (high), which integrations that take system events receive.

PostgreSQL is backed up with its own tools (pg_dump), not with this command.
Keep the key files of the data directory (encryption.key, session.key) with
the backup: stored credentials cannot be read without encryption.key.`,
		Example: `  bulwark backup --out /var/backups/bulwark-$(date +%F).db
  bulwark backup --data-dir /srv/bulwark/data --out /srv/backups/bulwark.db`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErr("--out is required: name the new file to write the backup to, e.g. --out bulwark-backup.db")
			}
			ctx := cmd.Context()
			// No migration: a backup taken before an upgrade must hold the
			// schema as it was.
			a, err := openApp(ctx, cmd, false)
			if err != nil {
				return err
			}
			defer a.store.Close()
			if err := checkSchema(ctx, a.store, a.cfg); err != nil {
				return err
			}
			bus := events.New(a.store, a.log)
			routes, err := integrations.StoredRoutes(ctx, a.store)
			if err != nil {
				return err
			}
			bus.SetRoutes(routes)
			if err := runBackup(ctx, a.store, bus, out, cmd.OutOrStdout()); err != nil {
				return err
			}
			if a.cfg.EncryptionKey == "" && a.store.Engine() == store.EngineSQLite {
				fmt.Fprintf(cmd.OutOrStdout(), "keep %s with the backup: stored credentials are encrypted with it\n",
					filepath.Join(a.cfg.DataDir, "encryption.key"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the backup to (must not exist)")
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// checkSchema refuses a database without Bulwark's schema, which is what a
// mistyped --data-dir or --database-url opens.
func checkSchema(ctx context.Context, db *store.DB, cfg *config.Config) error {
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(st, func(m store.MigrationStatus) bool { return m.Applied }) {
		return fmt.Errorf("no Bulwark database at %s: check --data-dir or --database-url (BULWARK_DATA_DIR, BULWARK_DATABASE_URL); they must be the ones serve uses",
			store.Redact(cfg.ResolvedDatabaseURL()))
	}
	return nil
}

// runBackup backs db up to dest and publishes the outcome on bus.
func runBackup(ctx context.Context, db *store.DB, bus *events.Bus, dest string, out io.Writer) error {
	info, err := db.Backup(ctx, dest)
	if err != nil {
		file := dest
		if abs, aerr := filepath.Abs(dest); aerr == nil {
			file = abs
		}
		msg := err.Error()
		var be *bulwark.Error
		if errors.As(err, &be) {
			msg = be.Message
		}
		data, _ := json.Marshal(map[string]any{"file": file, "engine": db.Engine(), "error": msg})
		if _, perr := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventSystem, Action: "backup.failed", Severity: bulwark.SeverityHigh,
			Actor: "system", Subject: "Backup to " + file + " failed", Data: data}); perr != nil {
			// Not wrapped: main prints only a bulwark error's message.
			return fmt.Errorf("%s (and the backup.failed event was not stored, so integrations were not told: %v)", msg, perr) //nolint:errorlint // both texts are kept on purpose

		}
		return err
	}
	data, _ := json.Marshal(map[string]any{"file": info.File, "bytes": info.Bytes,
		"duration_ms": info.Duration.Milliseconds(), "engine": info.Engine})
	if _, err := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventSystem, Action: "backup.completed", Severity: bulwark.SeverityInfo,
		Actor: "system", Subject: fmt.Sprintf("Backup written to %s (%s)", info.File, humanBytes(info.Bytes)), Data: data}); err != nil {
		return fmt.Errorf("backup written to %s, but the backup.completed event was not stored, so integrations were not told: %w", info.File, err)
	}
	fmt.Fprintf(out, "backup written to %s (%s, %d bytes) in %s\n", info.File, humanBytes(info.Bytes), info.Bytes, info.Duration.Round(time.Millisecond))
	return nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
