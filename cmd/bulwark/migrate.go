package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/bulwarkhq/bulwark/config"
	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:       "migrate [up|status]",
		Short:     "Apply database migrations (serve also does this at start) or show their status",
		Args:      usageArgs(cobra.MaximumNArgs(1)),
		ValidArgs: []string{"up", "status"},
		RunE: func(cmd *cobra.Command, args []string) error {
			action := "up"
			if len(args) == 1 {
				action = args[0]
			}
			if action != "up" && action != "status" {
				return &exitError{code: 2, err: fmt.Errorf("unknown migrate action %q: use up or status", action)}
			}
			a, err := openApp(cmd.Context(), cmd, action == "up")
			if err != nil {
				return err
			}
			defer a.store.Close()
			st, err := a.store.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
			for _, m := range st {
				state, at := "pending", ""
				if m.Applied {
					state = "applied"
					if !m.AppliedAt.IsZero() {
						at = m.AppliedAt.UTC().Format(time.RFC3339)
					}
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", m.Version, m.Source, state, at)
			}
			return w.Flush()
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}
