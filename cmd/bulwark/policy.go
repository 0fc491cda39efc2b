package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/bulwarkhq/bulwark/detect"
	"github.com/spf13/cobra"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "List, show, validate and test detection policies",
	}
	cmd.AddCommand(newPolicyListCmd(), newPolicyShowCmd(), newPolicyValidateCmd(), newPolicyTestCmd())
	return cmd
}

func newPolicyListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in policies",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := detect.BuiltinRegistry()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tRULES\tRESOLVED\tEXTENDS\tDESCRIPTION")
			for _, name := range reg.Names() {
				p, _ := reg.Get(name)
				resolved := "error"
				if rs, err := reg.Resolve(name); err == nil {
					n := 0
					for _, r := range rs.Rules {
						if !r.Disabled && rs.Source[r.ID] != "engine" {
							n++
						}
					}
					resolved = fmt.Sprint(n)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", p.Name, p.Version, len(p.Rules), resolved,
					strings.Join(p.Extends, ","), firstLine(p.Description))
			}
			return w.Flush()
		},
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len([]rune(s)) > 70 {
		s = string([]rune(s)[:69]) + "…"
	}
	return s
}

func newPolicyShowCmd() *cobra.Command {
	var resolved bool
	cmd := &cobra.Command{
		Use:   "show NAME|FILE",
		Short: "Print a policy as JSON (with --resolved: every rule after extends and overrides)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, names, err := loadPolicies(args)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if resolved {
				rs, err := reg.Resolve(names...)
				if err != nil {
					return err
				}
				return enc.Encode(rs)
			}
			p, _ := reg.Get(names[0])
			return enc.Encode(p)
		},
	}
	cmd.Flags().BoolVar(&resolved, "resolved", false, "print the resolved rule set")
	return cmd
}

func newPolicyValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check policy files: strict JSON, every field, extends and overrides, and that every pattern compiles",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := 0
			for _, file := range args {
				if err := validatePolicyFile(file); err != nil {
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "FAIL %s: %v\n", file, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok   %s\n", file)
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d policy file(s) invalid", failed, len(args))}
			}
			return nil
		},
	}
}

func validatePolicyFile(file string) error {
	reg, err := detect.BuiltinRegistry()
	if err != nil {
		return err
	}
	if _, err := os.Stat(file); err != nil {
		return err
	}
	p, err := reg.AddFile(file)
	if err != nil {
		return err
	}
	rs, err := reg.Resolve(p.Name)
	if err != nil {
		return err
	}
	_, err = detect.Compile(rs, detect.Options{})
	return err
}

func newPolicyTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test [NAME|FILE]...",
		Short: "Run every rule's match and no_match examples (all built-in policies when none is given)",
		Args:  usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, names, err := loadPolicies(args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				names = reg.Names()
			}
			out := cmd.OutOrStdout()
			failures, rulesRun := 0, 0
			for _, name := range names {
				rs, err := reg.Resolve(name)
				if err != nil {
					failures++
					fmt.Fprintf(out, "FAIL %s: %v\n", name, err)
					continue
				}
				e, err := detect.Compile(rs, detect.Options{})
				if err != nil {
					failures++
					fmt.Fprintf(out, "FAIL %s: %v\n", name, err)
					continue
				}
				pf := 0
				for i := range rs.Rules {
					r := &rs.Rules[i]
					if r.Disabled || r.ID == detect.RuleML {
						continue
					}
					rulesRun++
					for _, msg := range detect.CheckRuleExamples(cmd.Context(), e, r) {
						pf++
						fmt.Fprintf(out, "FAIL %s %s (from %s): %s\n", name, r.ID, rs.Source[r.ID], msg)
					}
				}
				if pf == 0 {
					fmt.Fprintf(out, "ok   %s\n", name)
				}
				failures += pf
			}
			if failures > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d example failure(s)", failures)}
			}
			fmt.Fprintf(out, "all examples pass (%d rule checks)\n", rulesRun)
			return nil
		},
	}
}
