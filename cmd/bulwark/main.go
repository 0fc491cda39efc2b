// Command bulwark is the Bulwark AI security gateway: one binary that runs
// the admin API and console (serve), manages the database (migrate, backup) and
// console accounts (user). This package is the only one that wires every
// other package together.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/spf13/cobra"
)

// Set with -ldflags "-X main.version=… -X main.commit=…" by make build.
var (
	version = ""
	commit  = ""
)

func buildVersion() (string, string) {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	return v, c
}

// exitError carries a process exit code (2 for usage errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func (e *exitError) Unwrap() error { return e.err }

// usageArgs makes an argument-count error a usage error (exit code 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())}
		}
		return nil
	}
}

func main() {
	// SIEM bodies carry the product version; make build sets it here.
	v, _ := buildVersion()
	cef.Version, format.Version = v, v
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		msg := err.Error()
		var be *bulwark.Error
		if errors.As(err, &be) {
			msg = be.Message // the code prefix is for programs, not people
		}
		fmt.Fprintln(os.Stderr, "bulwark:", msg)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "bulwark",
		Short:         "Bulwark: the security gateway between your apps and the AI services they use",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w\nRun '%s --help' for usage", err, c.CommandPath())}
	})
	root.AddCommand(newServeCmd(), newMigrateCmd(), newUserCmd(), newVersionCmd(), newOpenAPICmd(), newTrainClassifierCmd(), newEvalCmd())
	root.AddCommand(newScanCmd(), newPolicyCmd(), newDevCmd(), newBackupCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c := buildVersion()
			if c != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "bulwark %s (%s)\n", v, c)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "bulwark %s\n", v)
			}
			return nil
		},
	}
}
