package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/config"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/spf13/cobra"
)

type emitAlertOptions struct {
	count    int
	severity string
	category string
	proxy    string
	rule     string
	sinks    []string
}

func newDevEmitAlertCmd() *cobra.Command {
	o := &emitAlertOptions{}
	cmd := &cobra.Command{
		Use:   "emit-alert",
		Short: "Publish synthetic security alerts into the configured database",
		Long: `Publish synthetic alert events into the database that serve uses (same
--data-dir / --database-url and environment), so that the Alerts page and
integrations can be tried without traffic. Each alert is stored with its event
and audit trail exactly as a proxy's alert would be.

The alerts are queued for the enabled integrations whose filters want them,
as a proxy's alerts would be, and a running Bulwark delivers them; --sink
queues them for the named integrations only, whatever their filters.`,
		Example: `  bulwark dev emit-alert
  bulwark dev emit-alert --count 50 --severity critical --category "Canary Tokens" --sink siem`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			a, err := openApp(cmd.Context(), cmd, true)
			if err != nil {
				return err
			}
			defer a.store.Close()
			bus := events.New(a.store, a.log)
			routes := make([]events.Route, len(o.sinks))
			for i, s := range o.sinks {
				routes[i] = events.Route{Sink: s}
			}
			if len(o.sinks) == 0 {
				if routes, err = integrations.StoredRoutes(cmd.Context(), a.store); err != nil {
					return err
				}
			}
			bus.SetRoutes(routes)
			return emitAlerts(cmd.Context(), bus, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.count, "count", 1, "how many alerts to publish")
	f.StringVar(&o.severity, "severity", "high", "critical, high, medium, low or info")
	f.StringVar(&o.category, "category", "Guardrails", "alert category, e.g. \"Policy Violations\", \"Canary Tokens\"")
	f.StringVar(&o.proxy, "proxy", "dev-proxy", "proxy the alerts claim to come from")
	f.StringVar(&o.rule, "rule", "DEV-001", "rule id the alerts name")
	f.StringSliceVar(&o.sinks, "sink", nil, "queue the alerts for these integrations only (repeatable; default: every enabled integration whose filters want them)")
	config.RegisterFlags(f)
	return cmd
}

func (o *emitAlertOptions) validate() error {
	switch {
	case o.count < 1:
		return usageErr("--count must be at least 1, got %d", o.count)
	case !bulwark.Severity(o.severity).Valid():
		return usageErr("--severity must be critical, high, medium, low or info, got %q", o.severity)
	case o.category == "":
		return usageErr("--category must not be empty")
	}
	for _, s := range o.sinks {
		if s == "" {
			return usageErr("--sink must not be empty")
		}
	}
	return nil
}

// emitAlerts publishes o.count synthetic alerts on bus.
func emitAlerts(ctx context.Context, bus *events.Bus, o *emitAlertOptions, out io.Writer) error {
	for i := range o.count {
		title := fmt.Sprintf("Synthetic %s alert %d of %d", o.category, i+1, o.count)
		data, err := json.Marshal(map[string]any{
			"title": title, "action": "block", "user": "dev-user", "user_email": "dev-user@example.com",
			"group": "developers", "source_ip": "192.0.2.10", "proxy": o.proxy, "target": "gpt-4o-mini",
			"policy": "dev-policy", "rule_id": o.rule, "evidence": "ignore previous instructions and ****",
			"synthetic": true,
		})
		if err != nil {
			return err
		}
		ev, err := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventAlert, Action: "policy.block",
			Severity: bulwark.Severity(o.severity), Category: o.category, Actor: "dev-user",
			Subject: "Synthetic alert published by bulwark dev emit-alert", Data: data})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "alert %s: %s %s\n", ev.ID, o.severity, title)
	}
	fmt.Fprintf(out, "published %d alert(s)\n", o.count)
	return nil
}
