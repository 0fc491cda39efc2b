package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/detect/classifier"
	"github.com/spf13/cobra"
)

// corpusRecord is one row of a labelled evaluation corpus.
type corpusRecord struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Label    string `json:"label"`
	Category string `json:"category"`
	Context  string `json:"context"`
	Source   string `json:"source"`
}

// readCorpus reads JSONL records; blank lines are skipped and a bad line is
// an error naming its line number.
func readCorpus(path string) ([]corpusRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []corpusRecord
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var r corpusRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if r.Label != "attack" && r.Label != "benign" {
			return nil, fmt.Errorf("%s:%d: label must be attack or benign, got %q", path, line, r.Label)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// evalDefaultPolicies are scanned with when eval gets no --policy: the
// recommended LLM and MCP policies together, so every corpus context meets
// the rules meant for its surface.
var evalDefaultPolicies = []string{"llm-standard-security", "mcp-standard-security"}

// evalInput maps a corpus record to the engine input of its surface.
func evalInput(r corpusRecord) (detect.Input, error) {
	switch r.Context {
	case "llm_prompt":
		return detect.Input{Protocol: bulwark.ProtocolLLM, Surface: bulwark.SurfacePrompt, Format: detect.FormatText, Text: r.Text}, nil
	case "tool_argument":
		return detect.Input{Protocol: bulwark.ProtocolMCP, Surface: bulwark.SurfaceToolArguments, Format: detect.FormatMCPToolsCall, Data: []byte(r.Text)}, nil
	case "tool_description":
		return detect.Input{Protocol: bulwark.ProtocolMCP, Surface: bulwark.SurfaceToolDescription, Format: detect.FormatText, Text: r.Text}, nil
	case "tool_result":
		return detect.Input{Protocol: bulwark.ProtocolMCP, Surface: bulwark.SurfaceToolResult, Format: detect.FormatText, Text: r.Text}, nil
	}
	return detect.Input{}, fmt.Errorf("record %s: unknown context %q (want llm_prompt, tool_argument, tool_description or tool_result)", r.ID, r.Context)
}

// counts reports whether a finding counts as a detection for a record of
// the given category. Personal data is real in any text (an e-mail address
// in a benign e-mail is still personal data, and redacting it is right),
// so pii findings count only on the pii category; every other finding
// counts everywhere.
func counts(f bulwark.Finding, category string) bool {
	return f.Kind != bulwark.KindPII || category == "pii"
}

// wilson returns the Wilson score interval for k successes in n trials at
// 95% confidence.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	centre := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// evalGroup is one row of the report.
type evalGroup struct {
	Category string  `json:"category"`
	Context  string  `json:"context,omitempty"`
	Label    string  `json:"label"`
	Count    int     `json:"count"`
	Detected int     `json:"detected"`
	Rate     float64 `json:"rate"` // TPR for attacks, FPR for benign
	Low      float64 `json:"ci95_low"`
	High     float64 `json:"ci95_high"`
	// Top lists the rules that fired most on this group.
	Top []ruleCount `json:"top_rules,omitempty"`

	rules map[string]int
}

type ruleCount struct {
	Rule  string `json:"rule"`
	Count int    `json:"count"`
}

// evalReport is the result of one eval run.
type evalReport struct {
	Policies    []string    `json:"policies"`
	ML          bool        `json:"ml"`
	Records     int         `json:"records"`
	Categories  []evalGroup `json:"categories"`
	ByContext   []evalGroup `json:"by_context"`
	P50Micros   float64     `json:"p50_us"`
	P99Micros   float64     `json:"p99_us"`
	TotalMillis float64     `json:"total_ms"`
}

// evalError is a record the engine got wrong: a missed attack or a flagged
// benign record, with the rules that fired.
type evalError struct {
	ID       string   `json:"id"`
	Category string   `json:"category"`
	Context  string   `json:"context"`
	Label    string   `json:"label"`
	Rules    []string `json:"rules,omitempty"`
	Text     string   `json:"text"`
}

// runEval scans every record with the engine and aggregates the results.
// With errs set, every missed attack and flagged benign record is passed to it.
func runEval(ctx context.Context, eng *detect.Engine, recs []corpusRecord, errs func(evalError)) (*evalReport, error) {
	cats := map[string]*evalGroup{}
	ctxs := map[string]*evalGroup{}
	group := func(m map[string]*evalGroup, key, cat, context, label string) *evalGroup {
		g := m[key]
		if g == nil {
			g = &evalGroup{Category: cat, Context: context, Label: label, rules: map[string]int{}}
			m[key] = g
		}
		return g
	}
	times := make([]time.Duration, 0, len(recs))
	var total time.Duration
	for _, r := range recs {
		in, err := evalInput(r)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		res, err := eng.Scan(ctx, in)
		el := time.Since(start)
		times = append(times, el)
		total += el
		gc := group(cats, r.Category+"\x00"+r.Label, r.Category, "", r.Label)
		gx := group(ctxs, r.Category+"\x00"+r.Context+"\x00"+r.Label, r.Category, r.Context, r.Label)
		gc.Count++
		gx.Count++
		var fired []string
		if err == nil {
			for _, f := range res.Findings {
				if counts(f, r.Category) && !slices.Contains(fired, f.RuleID) {
					fired = append(fired, f.RuleID)
				}
			}
		} else if !errors.Is(err, context.Canceled) {
			// An input the engine refuses (malformed JSON) is not a detection.
			fired = nil
		} else {
			return nil, err
		}
		if errs != nil && (len(fired) > 0) == (r.Label == "benign") {
			errs(evalError{ID: r.ID, Category: r.Category, Context: r.Context, Label: r.Label, Rules: fired, Text: r.Text})
		}
		if len(fired) > 0 {
			gc.Detected++
			gx.Detected++
			for _, id := range fired {
				gc.rules[id]++
				gx.rules[id]++
			}
		}
	}
	rep := &evalReport{Records: len(recs), TotalMillis: float64(total.Microseconds()) / 1000}
	rep.Categories = finishGroups(cats)
	rep.ByContext = finishGroups(ctxs)
	if len(times) > 0 {
		slices.Sort(times)
		pct := func(p float64) float64 {
			i := int(math.Ceil(p*float64(len(times)))) - 1
			i = max(0, min(i, len(times)-1))
			return float64(times[i].Nanoseconds()) / 1000
		}
		rep.P50Micros, rep.P99Micros = pct(0.50), pct(0.99)
	}
	return rep, nil
}

func finishGroups(m map[string]*evalGroup) []evalGroup {
	out := make([]evalGroup, 0, len(m))
	for _, g := range m {
		if g.Count > 0 {
			g.Rate = float64(g.Detected) / float64(g.Count)
		}
		g.Low, g.High = wilson(g.Detected, g.Count)
		for id, c := range g.rules {
			g.Top = append(g.Top, ruleCount{id, c})
		}
		sort.Slice(g.Top, func(i, j int) bool {
			if g.Top[i].Count != g.Top[j].Count {
				return g.Top[i].Count > g.Top[j].Count
			}
			return g.Top[i].Rule < g.Top[j].Rule
		})
		if len(g.Top) > 5 {
			g.Top = g.Top[:5]
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Label != out[j].Label {
			return out[i].Label < out[j].Label // attack before benign
		}
		if out[i].Category != out[j].Category {
			return out[i].Category < out[j].Category
		}
		return out[i].Context < out[j].Context
	})
	return out
}

func writeEvalText(w io.Writer, rep *evalReport) {
	fmt.Fprintf(w, "policies: %s (learned detector %s)\n", strings.Join(rep.Policies, ", "), map[bool]string{true: "on", false: "off"}[rep.ML])
	fmt.Fprintf(w, "records: %d   scan time per record: p50 %.1f µs, p99 %.1f µs   total %.0f ms\n\n", rep.Records, rep.P50Micros, rep.P99Micros, rep.TotalMillis)
	table := func(title string, rows []evalGroup, withContext bool) {
		fmt.Fprintln(w, title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := "CATEGORY\t"
		if withContext {
			head += "CONTEXT\t"
		}
		fmt.Fprintln(tw, head+"COUNT\tDETECTED\tMETRIC\tRATE\t95% CI\tTOP RULES")
		for _, g := range rows {
			metric := "TPR"
			if g.Label == "benign" {
				metric = "FPR"
			}
			line := g.Category + "\t"
			if withContext {
				line += g.Context + "\t"
			}
			var top []string
			for _, t := range g.Top {
				top = append(top, fmt.Sprintf("%s:%d", t.Rule, t.Count))
			}
			fmt.Fprintf(tw, "%s%d\t%d\t%s\t%.1f%%\t[%.1f%%, %.1f%%]\t%s\n", line, g.Count, g.Detected, metric,
				100*g.Rate, 100*g.Low, 100*g.High, strings.Join(top, " "))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	table("By category:", rep.Categories, false)
	table("By category and context:", rep.ByContext, true)
}

func newEvalCmd() *cobra.Command {
	var corpus, format string
	var policies []string
	var noML, heldOut, showErrors bool
	cmd := &cobra.Command{
		Use:   "eval --corpus FILE",
		Short: "Measure detection rates on a labelled JSONL corpus",
		Long: `Scan every record of a labelled JSONL corpus ({id,text,label,category,context,source})
on the surface its context names (llm_prompt: prompt; tool_argument: the MCP tools/call
params object; tool_description; tool_result) and print per category the count, the
number detected, the true-positive rate (attacks) or false-positive rate (benign) with
Wilson 95% intervals, and the p50/p99 scan time per record.

A record is detected when any finding of the selected policies fires, except that
pii findings count only on the pii category (personal data in benign text is real
personal data, which redact rules rightly mask).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if corpus == "" {
				return usageErr("--corpus is required")
			}
			if format != "text" && format != "json" {
				return usageErr("--format must be text or json, got %q", format)
			}
			recs, err := readCorpus(corpus)
			if err != nil {
				return err
			}
			if heldOut {
				recs = slices.DeleteFunc(recs, func(r corpusRecord) bool { return !classifier.HeldOut(r.ID) })
			}
			pols := policies
			if len(pols) == 0 {
				pols = evalDefaultPolicies
			}
			// The learned detector is the embedded model, passed directly so
			// that eval does not depend on how scan is wired.
			var opts detect.Options
			if !noML {
				opts.Classifier = classifier.Default()
			}
			eng, err := buildEngine(pols, opts, false)
			if err != nil {
				return err
			}
			var errs func(evalError)
			if showErrors {
				w := cmd.ErrOrStderr()
				errs = func(e evalError) {
					text := strings.Join(strings.Fields(e.Text), " ")
					if r := []rune(text); len(r) > 300 {
						text = string(r[:300]) + "…"
					}
					what := "missed"
					if e.Label == "benign" {
						what = "flagged"
					}
					fmt.Fprintf(w, "%s %s %s/%s [%s] %s\n", what, e.ID, e.Category, e.Context, strings.Join(e.Rules, " "), text)
				}
			}
			rep, err := runEval(cmd.Context(), eng, recs, errs)
			if err != nil {
				return err
			}
			rep.Policies = eng.RuleSet().Policies
			rep.ML = eng.MLActive()
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			writeEvalText(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&corpus, "corpus", "", "labelled JSONL corpus (required)")
	f.StringArrayVar(&policies, "policy", nil, "built-in policy NAME or policy FILE (repeatable; default "+strings.Join(evalDefaultPolicies, " + ")+")")
	f.StringVar(&format, "format", "text", "output format: text or json")
	f.BoolVar(&noML, "no-ml", false, "do not run the learned detector")
	f.BoolVar(&heldOut, "held-out", false, "only the 20% of records the learned detector was not trained on")
	f.BoolVar(&showErrors, "show-errors", false, "print every missed attack and flagged benign record (id, category, rules, text) to stderr")
	return cmd
}
