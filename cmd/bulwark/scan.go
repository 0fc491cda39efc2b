package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/detect/classifier"
	"github.com/spf13/cobra"
)

// newClassifier returns the classifier behind rule ML-PI-001: the embedded
// learned detector. When it is nil (tests may unset it), ml in policies is
// inactive and scan says so.
var newClassifier = func() detect.Classifier { return classifier.Default() }

// defaultPolicy is scanned with when no --policy is given.
const defaultPolicy = "llm-standard-security"

// asUsage makes err exit with code 2 unless it already has a code: exit
// code 1 is reserved for "findings at or above the threshold".
func asUsage(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return &exitError{code: 2, err: err}
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// loadPolicies resolves --policy values (built-in names or policy files)
// into a registry and the names to resolve.
func loadPolicies(args []string) (*detect.Registry, []string, error) {
	reg, err := detect.BuiltinRegistry()
	if err != nil {
		return nil, nil, fmt.Errorf("built-in policies: %w", err)
	}
	var names []string
	for _, a := range args {
		if _, ok := reg.Get(a); ok && !strings.ContainsAny(a, "/.") {
			names = append(names, a)
			continue
		}
		if st, err := os.Stat(a); err == nil && !st.IsDir() {
			p, err := reg.AddFile(a)
			if err != nil {
				return nil, nil, err
			}
			names = append(names, p.Name)
			continue
		}
		return nil, nil, usageErr("--policy %q is neither a built-in policy (%s) nor a readable file", a, strings.Join(reg.Names(), ", "))
	}
	if len(names) == 0 {
		if _, ok := reg.Get(defaultPolicy); ok {
			names = []string{defaultPolicy}
		} else {
			names = reg.Names()
		}
		if len(names) == 0 {
			return nil, nil, usageErr("no built-in policies are available; pass --policy FILE")
		}
	}
	return reg, names, nil
}

// buildEngine resolves and compiles the policies for a scan.
func buildEngine(policyArgs []string, opts detect.Options, ml bool) (*detect.Engine, error) {
	reg, names, err := loadPolicies(policyArgs)
	if err != nil {
		return nil, err
	}
	rs, err := reg.Resolve(names...)
	if err != nil {
		return nil, err
	}
	if ml && rs.ML.Enabled && newClassifier != nil {
		opts.Classifier = newClassifier()
	}
	return detect.Compile(rs, opts)
}

type scanOptions struct {
	policies []string
	failOn   string
	format   string
	input    string
	surface  string
	protocol string
	maxBytes int
	noML     bool
}

func newScanCmd() *cobra.Command {
	o := &scanOptions{}
	cmd := &cobra.Command{
		Use:   "scan [FILE|-]",
		Short: "Scan text, a chat request, an MCP tools/list or tools/call document, or JSONL for attacks and sensitive data",
		Long: `Scan reads a file (or standard input) and reports what the detection policies find.

The input format is detected: plain text, an OpenAI or Anthropic chat request,
an MCP tools/list result, an MCP tools/call request, or JSON Lines. Texts are
extracted (message contents, tool argument values, tool descriptions) and each
is scanned on its surface; findings carry the JSON path of the text.

Exit codes: 0 when no finding reaches --fail-on-severity (or it is not set),
1 when one does, 2 on a usage error.`,
		Example: `  bulwark scan prompt.txt
  bulwark scan --policy mcp-standard-security --format sarif tools.json > bulwark.sarif
  cat request.json | bulwark scan --fail-on-severity high -`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.input = args[0]
			}
			return runScan(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.policies, "policy", nil, "built-in policy NAME or policy FILE (repeatable; default "+defaultPolicy+")")
	f.StringVar(&o.failOn, "fail-on-severity", "", "exit 1 when a finding at or above this severity exists: critical, high, medium, low")
	f.StringVar(&o.format, "format", "text", "output format: text, json or sarif")
	f.StringVar(&o.surface, "surface", "prompt", "surface of plain text input: prompt, system_prompt, tool_description, tool_arguments, tool_result, model_output")
	f.StringVar(&o.protocol, "protocol", "", "protocol: llm, mcp or a2a (default: from the input)")
	f.IntVar(&o.maxBytes, "max-bytes", 4<<20, "scan at most this many bytes of text; the result says when input was truncated")
	f.BoolVar(&o.noML, "no-ml", false, "do not run the learned prompt-injection detector")
	return cmd
}

func runScan(cmd *cobra.Command, o *scanOptions) error {
	if o.format != "text" && o.format != "json" && o.format != "sarif" {
		return usageErr("--format must be text, json or sarif, got %q", o.format)
	}
	var failOn bulwark.Severity
	if o.failOn != "" {
		failOn = bulwark.Severity(strings.ToLower(o.failOn))
		if !failOn.Valid() || failOn == bulwark.SeverityInfo {
			return usageErr("--fail-on-severity must be critical, high, medium or low, got %q", o.failOn)
		}
	}
	surface := bulwark.Surface(o.surface)
	if !surface.Valid() {
		return usageErr("--surface must be one of %s, got %q", surfacesList(), o.surface)
	}
	proto := bulwark.Protocol(o.protocol)
	if proto != "" && !proto.Valid() {
		return usageErr("--protocol must be llm, mcp or a2a, got %q", o.protocol)
	}
	if o.maxBytes <= 0 {
		return usageErr("--max-bytes must be positive")
	}
	opts := detect.Options{MaxScanBytes: o.maxBytes}
	data, name, err := readInput(cmd, o.input, 32<<20)
	if err != nil {
		return err
	}
	e, err := buildEngine(o.policies, opts, !o.noML)
	if err != nil {
		return asUsage(err)
	}
	format := detect.DetectFormat(data)
	res, err := e.Scan(cmd.Context(), detect.Input{Protocol: proto, Surface: surface, Format: format, Data: data})
	if err != nil {
		return asUsage(fmt.Errorf("%s: %w", name, err))
	}
	out := cmd.OutOrStdout()
	locate := newLocator(data, format)
	switch o.format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(scanReport{Input: name, Format: string(format), Policies: e.RuleSet().Policies, ML: e.MLActive(), Result: res}); err != nil {
			return err
		}
	case "sarif":
		v, _ := buildVersion()
		if err := writeSARIF(out, e, res, name, locate, v); err != nil {
			return err
		}
	default:
		writeText(out, e, res, name, format, locate)
	}
	if failOn != "" {
		n := 0
		for _, f := range res.Findings {
			if f.Severity.Rank() >= failOn.Rank() {
				n++
			}
		}
		if n > 0 {
			return &exitError{code: 1, err: fmt.Errorf("%d finding(s) at or above severity %s", n, failOn)}
		}
	}
	return nil
}

func surfacesList() string {
	s := make([]string, len(bulwark.Surfaces))
	for i, x := range bulwark.Surfaces {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

type scanReport struct {
	Input    string   `json:"input"`
	Format   string   `json:"format"`
	Policies []string `json:"policies"`
	ML       bool     `json:"ml"`
	*detect.Result
}

// readInput reads FILE, or standard input for "-" or no argument, up to max bytes.
func readInput(cmd *cobra.Command, file string, max int64) ([]byte, string, error) {
	var r io.Reader
	name := file
	if file == "" || file == "-" {
		r, name = cmd.InOrStdin(), "stdin"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, "", usageErr("%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, "", usageErr("read %s: %v", name, err)
	}
	if int64(len(data)) > max {
		return nil, "", usageErr("%s: input is larger than %d bytes", name, max)
	}
	return data, name, nil
}

func writeText(w io.Writer, e *detect.Engine, res *detect.Result, name string, format detect.Format, locate *locator) {
	for _, f := range res.Findings {
		line, col := locate.position(f)
		where := ""
		if f.Path != "" {
			where = " at " + f.Path
		}
		fmt.Fprintf(w, "%s:%d:%d: %s %s %s%s (%s, %s): %s\n", name, line, col, strings.ToUpper(string(f.Severity)),
			f.RuleID, f.Title, where, f.Action, f.Surface, f.Evidence)
	}
	summary := fmt.Sprintf("%d finding(s)", len(res.Findings))
	if max := res.MaxSeverity(); max != "" {
		summary += ", highest severity " + string(max)
	}
	summary += fmt.Sprintf("; scanned %d field(s), %d bytes as %s with %s", res.Fields, res.BytesScanned, format, strings.Join(e.RuleSet().Policies, ", "))
	if res.Truncated {
		summary += "; INPUT TRUNCATED (raise --max-bytes to scan all of it)"
	}
	if e.RuleSet().ML.Enabled && !e.MLActive() {
		summary += "; learned detector off"
	}
	fmt.Fprintln(w, summary)
}

// locator maps findings to line and column of the input file: for text,
// the match itself; for JSON, the start of the string value holding it.
type locator struct {
	data    []byte
	format  detect.Format
	offsets map[string]int // JSON path → byte offset of its value
	lines   []int          // byte offset of each line start
}

func newLocator(data []byte, format detect.Format) *locator {
	l := &locator{data: data, format: format, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	if format != detect.FormatText {
		l.offsets = map[string]int{}
		if format == detect.FormatJSONL {
			for i, start := range l.lines {
				end := len(data)
				if i+1 < len(l.lines) {
					end = l.lines[i+1]
				}
				indexJSON(data[start:end], start, "lines["+strconv.Itoa(i)+"]", l.offsets)
			}
		} else {
			indexJSON(data, 0, "", l.offsets)
		}
	}
	return l
}

// position returns the 1-based line and column (in characters) of a finding.
func (l *locator) position(f bulwark.Finding) (int, int) {
	off := 0
	if l.format == detect.FormatText {
		off = f.Start
	} else {
		p := f.Path
		if i := strings.Index(p, "[decoded:"); i >= 0 {
			p = p[:i]
		}
		for p != "" {
			if o, ok := l.offsets[p]; ok {
				off = o
				break
			}
			i := strings.LastIndexAny(p, ".[")
			if i <= 0 {
				break
			}
			p = p[:i]
		}
	}
	off = min(max(off, 0), len(l.data))
	line := 0
	for line+1 < len(l.lines) && l.lines[line+1] <= off {
		line++
	}
	col := 1 + len([]rune(string(l.data[l.lines[line]:off])))
	return line + 1, col
}

// indexJSON records the byte offset of every value in a JSON document,
// keyed by the same paths the detect package reports.
func indexJSON(data []byte, base int, prefix string, out map[string]int) {
	dec := json.NewDecoder(bytes.NewReader(data))
	valueStart := func() int {
		off := int(dec.InputOffset())
		for off < len(data) && (data[off] == ' ' || data[off] == '\n' || data[off] == '\r' || data[off] == '\t' || data[off] == ':' || data[off] == ',') {
			off++
		}
		return base + off
	}
	var walk func(path string, depth int) error
	walk = func(path string, depth int) error {
		if depth > 128 {
			return errors.New("too deep")
		}
		start := valueStart()
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if path != "" {
			out[path] = start
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if err := walk(joinPath(path, detect.KeyPath(k)), depth+1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	_ = walk(prefix, 0)
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	if key[0] == '[' {
		return base + key
	}
	return base + "." + key
}

// SARIF 2.1.0, the subset GitHub code scanning reads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool     `json:"tool"`
	ColumnKind string        `json:"columnKind"`
	Results    []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration map[string]any `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

func sarifLevel(s bulwark.Severity) string {
	switch s {
	case bulwark.SeverityCritical, bulwark.SeverityHigh:
		return "error"
	case bulwark.SeverityMedium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub's numeric severity (critical ≥ 9, high ≥ 7,
// medium ≥ 4, low below).
func securitySeverity(s bulwark.Severity) string {
	switch s {
	case bulwark.SeverityCritical:
		return "9.5"
	case bulwark.SeverityHigh:
		return "8.0"
	case bulwark.SeverityMedium:
		return "5.5"
	}
	return "3.0"
}

func writeSARIF(w io.Writer, e *detect.Engine, res *detect.Result, name string, locate *locator, version string) error {
	uri := strings.TrimPrefix(strings.ReplaceAll(name, "\\", "/"), "./")
	rs := e.RuleSet()
	driver := sarifDriver{Name: "Bulwark", InformationURI: "https://github.com/bulwarkhq/bulwark", Version: version, Rules: []sarifRule{}}
	ruleIndex := map[string]int{}
	results := []sarifResult{}
	for _, f := range res.Findings {
		idx, ok := ruleIndex[f.RuleID]
		if !ok {
			r, _ := rs.Rule(f.RuleID)
			desc, title := f.Title, f.Title
			if r != nil {
				desc = r.Description
			}
			idx = len(driver.Rules)
			ruleIndex[f.RuleID] = idx
			driver.Rules = append(driver.Rules, sarifRule{
				ID: f.RuleID, Name: sarifRuleName(title),
				ShortDescription:     sarifText{title},
				FullDescription:      sarifText{desc},
				Help:                 sarifText{desc + " (policy " + rs.Source[f.RuleID] + ", action " + string(f.Action) + ")"},
				DefaultConfiguration: map[string]any{"level": sarifLevel(f.Severity)},
				Properties: map[string]any{
					"tags":              []string{"security", string(f.Category), string(f.Kind)},
					"security-severity": securitySeverity(f.Severity),
				},
			})
		}
		line, col := locate.position(f)
		msg := f.Title
		if f.Path != "" {
			msg += " in " + f.Path
		}
		msg += ": " + f.Evidence
		loc := sarifLocation{PhysicalLocation: sarifPhysical{
			ArtifactLocation: sarifArtifact{URI: uri},
			Region:           sarifRegion{StartLine: line, StartColumn: col},
		}}
		if f.Path != "" {
			loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: f.Path, Kind: "member"}}
		}
		results = append(results, sarifResult{
			RuleID: f.RuleID, RuleIndex: idx, Level: sarifLevel(f.Severity),
			Message:             sarifText{msg},
			Locations:           []sarifLocation{loc},
			PartialFingerprints: map[string]string{"bulwarkFinding/v1": fmt.Sprintf("%s:%s:%d", f.RuleID, f.Path, f.Start)},
			Properties:          map[string]any{"severity": f.Severity, "action": f.Action, "surface": f.Surface, "score": f.Score},
		})
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, ColumnKind: "unicodeCodePoints", Results: results}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// sarifRuleName makes a PascalCase identifier from a rule title.
func sarifRuleName(title string) string {
	var b strings.Builder
	up := true
	for _, r := range title {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			if up && r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	return b.String()
}
