package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/config"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/spf13/cobra"
)

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage console accounts directly in the database (recovery, automation)",
	}
	cmd.AddCommand(newUserCreateCmd(), newUserSetPasswordCmd(), newUserListCmd())
	return cmd
}

// readPassword reads one line from r (for --password-stdin).
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", &exitError{code: 2, err: fmt.Errorf("--password-stdin: no password on standard input")}
	}
	return pw, nil
}

// obtainPassword reads the password from stdin when asked to, or generates
// one (which the caller prints once and must make the user change).
func obtainPassword(cmd *cobra.Command, fromStdin bool) (pw string, generated bool, err error) {
	if !fromStdin {
		return api.GeneratePassword(), true, nil
	}
	pw, err = readPassword(cmd.InOrStdin())
	return pw, false, err
}

// cliAudit records a CLI action in the audit log like an API action.
func cliAudit(ctx context.Context, a *app, action, resID string, details map[string]any) error {
	bus := events.New(a.store, a.log)
	_, err := bus.Audit(ctx, &bulwark.AuditEntry{Actor: "cli", Action: action, ResourceType: "user", ResourceID: resID,
		Result: bulwark.ResultSuccess, UserAgent: "bulwark-cli", Details: details},
		bulwark.Event{Type: bulwark.EventConfig, Action: action, Actor: "cli", Subject: "cli " + action + " user " + resID})
	return err
}

func newUserCreateCmd() *cobra.Command {
	var role, email, display string
	var pwStdin, noChange bool
	cmd := &cobra.Command{
		Use:   "create USERNAME",
		Short: "Create a console user (prints a generated password unless --password-stdin)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			u := &bulwark.User{Username: bulwark.NormalizeUsername(args[0]), Role: bulwark.Role(role), Email: email, DisplayName: display, MustChangePassword: !noChange}
			if err := u.Validate(); err != nil {
				return &exitError{code: 2, err: err}
			}
			pw, generated, err := obtainPassword(cmd, pwStdin)
			if err != nil {
				return err
			}
			u.MustChangePassword = u.MustChangePassword || generated
			a, err := openApp(ctx, cmd, true)
			if err != nil {
				return err
			}
			defer a.store.Close()
			h, err := auth.NewService(a.store, auth.Options{}).HashPassword(pw, u.Username)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			u.PasswordHash = h
			if err := a.store.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := cliAudit(ctx, a, "user.create", fmt.Sprint(u.ID), map[string]any{"username": u.Username, "role": u.Role}); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created user %s (id %d, role %s)\n", u.Username, u.ID, u.Role)
			if generated {
				fmt.Fprintf(out, "password: %s\n(shown only now; it must be changed at first login)\n", pw)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "viewer", "admin, operator or viewer")
	f.StringVar(&email, "email", "", "e-mail address")
	f.StringVar(&display, "display-name", "", "display name")
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.BoolVar(&noChange, "no-password-change", false, "do not require a password change at first login (only with --password-stdin)")
	config.RegisterFlags(f)
	return cmd
}

func newUserSetPasswordCmd() *cobra.Command {
	var pwStdin, mustChange bool
	cmd := &cobra.Command{
		Use:   "set-password USERNAME",
		Short: "Set a user's password, clear a login lock and end their sessions (prints a generated password unless --password-stdin)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pw, generated, err := obtainPassword(cmd, pwStdin)
			if err != nil {
				return err
			}
			mustChange = mustChange || generated
			a, err := openApp(ctx, cmd, true)
			if err != nil {
				return err
			}
			defer a.store.Close()
			u, err := a.store.GetUserByUsername(ctx, bulwark.NormalizeUsername(args[0]))
			if bulwark.IsNotFound(err) {
				return fmt.Errorf("no user named %q (list them with: bulwark user list)", args[0])
			}
			if err != nil {
				return err
			}
			if err := auth.NewService(a.store, auth.Options{}).SetPassword(ctx, u, pw, mustChange, ""); err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := cliAudit(ctx, a, "user.password_reset", fmt.Sprint(u.ID), map[string]any{"username": u.Username, "generated": generated}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s set; login lock cleared; sessions ended\n", u.Username)
			if generated {
				fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n(shown only now; it must be changed at next login)\n", pw)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.BoolVar(&mustChange, "must-change", true, "require a password change at next login")
	config.RegisterFlags(f)
	return cmd
}

func newUserListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List console users",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd.Context(), cmd, true)
			if err != nil {
				return err
			}
			defer a.store.Close()
			us, err := a.store.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSERNAME\tROLE\tSTATE\tLAST LOGIN")
			now := time.Now()
			for _, u := range us {
				state := "active"
				switch {
				case u.Disabled:
					state = "disabled"
				case u.LockedUntil != nil && u.LockedUntil.After(now):
					state = "locked"
				case u.MustChangePassword:
					state = "must change password"
				}
				last := "never"
				if u.LastLoginAt != nil {
					last = u.LastLoginAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.Role, state, last)
			}
			return w.Flush()
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}
