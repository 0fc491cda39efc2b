package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/danielgtaylor/huma/v2"
)

// PolicySummary is one policy in the list.
type PolicySummary struct {
	Name          string     `json:"name"`
	Version       string     `json:"version"`
	Description   string     `json:"description"`
	Builtin       bool       `json:"builtin" doc:"Embedded in the binary; read-only but clonable"`
	ReadOnly      bool       `json:"read_only"`
	Extends       []string   `json:"extends"`
	Rules         int        `json:"rules" doc:"Rules the policy defines itself"`
	ResolvedRules int        `json:"resolved_rules" doc:"Enabled rules after extends and overrides (engine rules not counted)"`
	UpdatedAt     *time.Time `json:"updated_at,omitempty"`
	UpdatedBy     string     `json:"updated_by,omitempty"`
	Error         string     `json:"error,omitempty" doc:"Why the policy does not resolve, e.g. a policy it extends was removed"`
}

// PolicyRule is a resolved rule with its effective action and severity.
type PolicyRule struct {
	bulwark.Rule
	Source string `json:"source" doc:"Policy that defines the rule (\"engine\" for the engine's own rules)"`
}

// PolicyDetail is one policy: its document and its resolved rules.
type PolicyDetail struct {
	PolicySummary
	Document json.RawMessage  `json:"document" doc:"The policy document (docs/policy.schema.json)"`
	ML       bulwark.MLConfig `json:"ml" doc:"Learned detector settings after extends"`
	Resolved []PolicyRule     `json:"resolved" doc:"Every rule after extends and overrides, in order"`
}

type policyListOutput struct {
	Body struct {
		Items []PolicySummary `json:"items"`
		Total int             `json:"total"`
	}
}

type policyOutput struct {
	ETag string `header:"ETag"`
	Body PolicyDetail
}

type policyNameInput struct {
	Name string `path:"name" pattern:"^[a-z0-9-]{2,64}$" doc:"Policy name"`
}

type policyDocInput struct {
	Body json.RawMessage `doc:"A policy document (docs/policy.schema.json)"`
}

type policyUpdateInput struct {
	Name    string          `path:"name" pattern:"^[a-z0-9-]{2,64}$"`
	IfMatch string          `header:"If-Match" doc:"ETag from GET /policies/{name}; the update is refused with 409 when the policy changed since"`
	Body    json.RawMessage `doc:"The new policy document; its name must be the one in the path"`
}

type policyCloneInput struct {
	Name string `path:"name" pattern:"^[a-z0-9-]{2,64}$"`
	Body struct {
		Name        string `json:"name" pattern:"^[a-z0-9-]{2,64}$" doc:"Name of the copy"`
		Description string `json:"description,omitempty" maxLength:"2000" doc:"Description of the copy (default: that of the original)"`
	}
}

// PolicyProblem is one thing wrong with a policy document.
type PolicyProblem struct {
	Field   string `json:"field,omitempty" doc:"Field at fault, e.g. rules[3](PI-004).severity"`
	Message string `json:"message"`
}

type policyValidateOutput struct {
	Body struct {
		OK     bool            `json:"ok"`
		Errors []PolicyProblem `json:"errors"`
		Rules  int             `json:"rules" doc:"Enabled rules after extends and overrides, when ok"`
	}
}

type policyTestInput struct {
	Body struct {
		Policies []string        `json:"policies,omitempty" maxItems:"16" doc:"Stored or built-in policies to scan with"`
		Document json.RawMessage `json:"document,omitempty" doc:"A policy document to scan with instead (not stored)"`
		Text     string          `json:"text" maxLength:"65536" doc:"Text to scan"`
		Surface  string          `json:"surface,omitempty" enum:"prompt,system_prompt,tool_description,tool_arguments,tool_result,model_output" doc:"Default prompt"`
		Protocol string          `json:"protocol,omitempty" enum:"llm,mcp,a2a" doc:"Default llm"`
	}
}

// PolicyFinding is a finding of POST /policies/test.
type PolicyFinding struct {
	bulwark.Finding
	Description string `json:"description,omitempty"`
}

type policyTestOutput struct {
	Body struct {
		Policies     []string        `json:"policies" doc:"Policies the scan resolved, extended ones included"`
		Findings     []PolicyFinding `json:"findings" doc:"Start and end are byte offsets into text (UTF-8)"`
		RedactedText string          `json:"redacted_text,omitempty" doc:"The text with the matches of redact rules replaced by placeholders"`
		Blocked      bool            `json:"blocked"`
		MaxSeverity  string          `json:"max_severity,omitempty"`
		Truncated    bool            `json:"truncated"`
		DurationUS   int64           `json:"duration_us"`
	}
}

// policyState holds the built-in policies.
type policyState struct {
	once     sync.Once
	builtin  *detect.Registry
	err      error
	mutation sync.Mutex // serialises changes so dependency checks see a stable set
}

// engines caches compiled engines process-wide.
var engines = &detect.EngineCache{}

func (s *Server) builtins() (*detect.Registry, error) {
	s.pol.once.Do(func() { s.pol.builtin, s.pol.err = detect.BuiltinRegistry() })
	return s.pol.builtin, s.pol.err
}

func (s *Server) policyStore() (bulwark.PolicyStore, error) {
	if s.o.Policies == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "custom policies are not available on this server"}
	}
	return s.o.Policies, nil
}

// beginPolicyChange serialises a change to stored policies: it takes the
// mutation lock and reads the registry the change is checked against. The
// caller must call unlock when err is nil.
func (s *Server) beginPolicyChange(ctx context.Context) (bulwark.PolicyStore, *detect.Registry, map[string]*bulwark.StoredPolicy, func(), error) {
	st, err := s.policyStore()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	s.pol.mutation.Lock()
	reg, stored, err := s.registry(ctx)
	if err != nil {
		s.pol.mutation.Unlock()
		return nil, nil, nil, nil, err
	}
	return st, reg, stored, s.pol.mutation.Unlock, nil
}

// registry returns the built-ins plus every stored policy (parsed), and the
// stored records by name.
func (s *Server) registry(ctx context.Context) (*detect.Registry, map[string]*bulwark.StoredPolicy, error) {
	b, err := s.builtins()
	if err != nil {
		return nil, nil, err
	}
	stored := map[string]*bulwark.StoredPolicy{}
	if s.o.Policies == nil {
		reg, _ := detect.WithStored(b, nil) // a copy: checks add to it
		return reg, stored, nil
	}
	list, err := s.o.Policies.ListPolicies(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, sp := range list {
		stored[sp.Name] = sp
	}
	reg, skipped := detect.WithStored(b, list)
	for name, err := range skipped {
		s.o.Log.Warn("stored policy does not parse", "policy", name, "err", err)
	}
	return reg, stored, nil
}

func (s *Server) engineOptions() detect.Options {
	return detect.Options{Classifier: s.o.Classifier, MaxScanBytes: 1 << 20}
}

// engine compiles (or reuses) the engine of the named policies: every
// rule after extends and overrides.
func (s *Server) engine(reg *detect.Registry, names ...string) (*detect.Engine, error) {
	e, err := engines.Engine(reg, s.engineOptions(), names...)
	if err != nil {
		return nil, unprocessable("", err)
	}
	return e, nil
}

// unprocessable turns a loader error into a 422 that keeps its field list.
func unprocessable(field string, err error) error {
	var be *bulwark.Error
	if errors.As(err, &be) {
		if be.Code == bulwark.CodeUnprocessable || be.Code == bulwark.CodeInvalid {
			return &bulwark.Error{Code: bulwark.CodeUnprocessable, Message: err.Error(), Fields: be.Fields}
		}
		return err
	}
	e := &bulwark.Error{Code: bulwark.CodeUnprocessable, Message: err.Error()}
	if field != "" {
		e.Fields = []bulwark.FieldError{{Field: field, Message: err.Error()}}
	}
	return e
}

// checkDocument parses a policy document and checks that it resolves in reg
// (it is added to reg), that its own rules compile and that their examples
// hold. Inherited rules were checked when their policies were stored.
// It returns the policy and the number of enabled rules after resolution.
func (s *Server) checkDocument(ctx context.Context, reg *detect.Registry, data []byte) (*bulwark.Policy, int, error) {
	return s.check(ctx, reg, data, true)
}

// check is checkDocument; compile false skips compiling and running the
// examples, for copies of policies that were checked already.
func (s *Server) check(ctx context.Context, reg *detect.Registry, data []byte, compile bool) (*bulwark.Policy, int, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, 0, &bulwark.Error{Code: bulwark.CodeUnprocessable, Message: "the body must be a policy document"}
	}
	p, err := detect.ParsePolicy(data)
	if err != nil {
		return nil, 0, unprocessable("", err)
	}
	reg.Put(p)
	rs, err := reg.Resolve(p.Name)
	if err != nil {
		return nil, 0, unprocessable("", err)
	}
	enabled := 0
	own := &detect.RuleSet{Policies: rs.Policies, Source: rs.Source, ML: rs.ML}
	for _, r := range rs.Rules {
		src := rs.Source[r.ID]
		if !r.Disabled && src != "engine" {
			enabled++
		}
		if src == p.Name || src == "engine" {
			own.Rules = append(own.Rules, r)
		}
	}
	if !compile {
		return p, enabled, nil
	}
	e, err := detect.Compile(own, s.engineOptions())
	if err != nil {
		return nil, 0, unprocessable("", err)
	}
	var fe []bulwark.FieldError
	for i := range p.Rules {
		r, ok := own.Rule(p.Rules[i].ID)
		if !ok || r.Disabled {
			continue
		}
		for _, msg := range detect.CheckRuleExamples(ctx, e, r) {
			fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("rules[%d](%s).examples", i, r.ID), Message: msg})
		}
	}
	if err := bulwark.ValidationError(fe); err != nil {
		return nil, 0, err
	}
	return p, enabled, nil
}

// dependents lists the stored policies other than name that fail to resolve
// in reg, with their errors.
func dependents(reg *detect.Registry, stored map[string]*bulwark.StoredPolicy, name string) []bulwark.FieldError {
	var fe []bulwark.FieldError
	for _, n := range sortedNames(stored) {
		if n == name {
			continue
		}
		if _, ok := reg.Get(n); !ok {
			continue
		}
		if _, err := reg.Resolve(n); err != nil {
			fe = append(fe, bulwark.FieldError{Field: "policy " + n, Message: err.Error()})
		}
	}
	return fe
}

func sortedNames(m map[string]*bulwark.StoredPolicy) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func summarize(reg *detect.Registry, p *bulwark.Policy, builtin bool, sp *bulwark.StoredPolicy) PolicySummary {
	sum := PolicySummary{
		Name: p.Name, Version: p.Version, Description: p.Description, Builtin: builtin, ReadOnly: builtin,
		Extends: append([]string{}, p.Extends...), Rules: len(p.Rules),
	}
	if sp != nil {
		t := sp.UpdatedAt
		sum.UpdatedAt, sum.UpdatedBy = &t, sp.UpdatedBy
	}
	rs, err := reg.Resolve(p.Name)
	if err != nil {
		sum.Error = err.Error()
		return sum
	}
	for _, r := range rs.Rules {
		if !r.Disabled && rs.Source[r.ID] != "engine" {
			sum.ResolvedRules++
		}
	}
	return sum
}

func etag(sp *bulwark.StoredPolicy) string {
	if sp == nil {
		return ""
	}
	return `"` + sp.UpdatedAt.UTC().Format(time.RFC3339Nano) + `"`
}

func builtinReadOnly(name string) error {
	return &bulwark.Error{Code: bulwark.CodeForbidden, Message: fmt.Sprintf(
		"policy %q is built in and read-only; clone it (POST /api/v1/policies/%s/clone) and change the copy", name, name)}
}

func (s *Server) policyDetail(ctx context.Context, name string) (*policyOutput, error) {
	reg, stored, err := s.registry(ctx)
	if err != nil {
		return nil, err
	}
	p, ok := reg.Get(name)
	if !ok {
		return nil, &bulwark.Error{Code: bulwark.CodeNotFound, Message: fmt.Sprintf("policy %q not found", name)}
	}
	b, _ := s.builtins()
	sp := stored[name]
	out := &policyOutput{ETag: etag(sp)}
	out.Body.PolicySummary = summarize(reg, p, b.Builtin(name) && sp == nil, sp)
	if sp != nil {
		out.Body.Document = sp.Document
	} else {
		out.Body.Document, _ = json.Marshal(p)
	}
	out.Body.Resolved = []PolicyRule{}
	if rs, err := reg.Resolve(name); err == nil {
		out.Body.ML = rs.ML
		for _, r := range rs.Rules {
			if r.ID == detect.RuleML && !rs.ML.Enabled {
				continue
			}
			out.Body.Resolved = append(out.Body.Resolved, PolicyRule{Rule: r, Source: rs.Source[r.ID]})
		}
	}
	return out, nil
}

func (s *Server) policyRoutes() {
	tags := []string{"Policies"}
	notFound := func(name string) error {
		return &bulwark.Error{Code: bulwark.CodeNotFound, Message: fmt.Sprintf("policy %q not found", name)}
	}

	register(s, huma.Operation{
		OperationID: "policies.list", Method: http.MethodGet, Path: "/policies", Tags: tags,
		Summary: "List policies", Description: "Built-in policies (read-only) and custom ones, with their rule counts.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*policyListOutput, error) {
		reg, stored, err := s.registry(ctx)
		if err != nil {
			return nil, err
		}
		b, _ := s.builtins()
		out := &policyListOutput{}
		out.Body.Items = []PolicySummary{}
		for _, n := range reg.Names() {
			p, _ := reg.Get(n)
			out.Body.Items = append(out.Body.Items, summarize(reg, p, b.Builtin(n) && stored[n] == nil, stored[n]))
		}
		out.Body.Total = len(out.Body.Items)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "policies.get", Method: http.MethodGet, Path: "/policies/{name}", Tags: tags,
		Summary: "Show a policy", Description: "The policy document and every rule after extends and overrides, with its effective action and severity.",
		Errors: []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *policyNameInput) (*policyOutput, error) {
		return s.policyDetail(ctx, in.Name)
	})

	register(s, huma.Operation{
		OperationID: "policies.create", Method: http.MethodPost, Path: "/policies", Tags: tags,
		Summary: "Create a custom policy", Description: "The body is a policy document. It must parse strictly, resolve (extends may name built-in or custom policies), compile, and its rules' examples must hold.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *policyDocInput) (*policyOutput, error) {
		return s.createPolicy(ctx, pr, in.Body, "")
	})

	register(s, huma.Operation{
		OperationID: "policies.update", Method: http.MethodPut, Path: "/policies/{name}", Tags: tags,
		Summary: "Replace a custom policy", Description: "Built-in policies are read-only (403): clone them instead. Send If-Match with the ETag of GET to refuse the update when someone changed the policy meanwhile.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *policyUpdateInput) (*policyOutput, error) {
		st, reg, stored, unlock, err := s.beginPolicyChange(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		sp := stored[in.Name]
		if sp == nil {
			if b, _ := s.builtins(); b.Builtin(in.Name) {
				return nil, builtinReadOnly(in.Name)
			}
			return nil, notFound(in.Name)
		}
		if in.IfMatch != "" && in.IfMatch != etag(sp) {
			return nil, &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf("policy %q was changed by %s since you loaded it; reload and apply your change again", in.Name, orDefault(sp.UpdatedBy, "someone"))}
		}
		p, _, err := s.checkDocument(ctx, reg, in.Body)
		if err != nil {
			return nil, err
		}
		if p.Name != in.Name {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "name", Message: fmt.Sprintf("must be %q, the policy being updated (clone to rename)", in.Name)}})
		}
		if fe := dependents(reg, stored, p.Name); len(fe) > 0 {
			return nil, &bulwark.Error{Code: bulwark.CodeUnprocessable, Message: "the change breaks policies that extend this one: " + fe[0].Message, Fields: fe}
		}
		upd := &bulwark.StoredPolicy{Name: p.Name, Version: p.Version, Description: p.Description, Document: in.Body, UpdatedBy: pr.User.Username}
		if err := st.UpdatePolicy(ctx, upd, sp.UpdatedAt); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "policy.update", "policy", p.Name, bulwark.ResultSuccess,
			map[string]any{"version": p.Version, "previous_version": sp.Version, "rules": len(p.Rules)})
		s.reloadAll(ctx)
		return s.policyDetail(ctx, p.Name)
	})

	register(s, huma.Operation{
		OperationID: "policies.delete", Method: http.MethodDelete, Path: "/policies/{name}", Tags: tags,
		Summary: "Delete a custom policy", Description: "Built-in policies cannot be deleted; a policy other policies extend cannot be deleted (409).",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *policyNameInput) (*struct{}, error) {
		st, reg, stored, unlock, err := s.beginPolicyChange(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if stored[in.Name] == nil {
			if b, _ := s.builtins(); b.Builtin(in.Name) {
				return nil, builtinReadOnly(in.Name)
			}
			return nil, notFound(in.Name)
		}
		var users []string
		for _, n := range sortedNames(stored) {
			if p, ok := reg.Get(n); ok && slices.Contains(p.Extends, in.Name) {
				users = append(users, n)
			}
		}
		if len(users) > 0 {
			return nil, &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf("policy %q is extended by %s; change or delete those first", in.Name, strings.Join(users, ", "))}
		}
		if s.o.GatewayStore != nil {
			proxies, err := s.o.GatewayStore.ListProxies(ctx)
			if err != nil {
				return nil, err
			}
			for _, p := range proxies {
				if slices.Contains(p.Policies, in.Name) {
					users = append(users, p.Name)
				}
			}
			if len(users) > 0 {
				return nil, &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf("policy %q is used by proxy %s; remove it from those first", in.Name, strings.Join(users, ", "))}
			}
		}
		if err := st.DeletePolicy(ctx, in.Name); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "policy.delete", "policy", in.Name, bulwark.ResultSuccess, nil)
		s.reloadAll(ctx)
		return nil, nil
	})

	register(s, huma.Operation{
		OperationID: "policies.clone", Method: http.MethodPost, Path: "/policies/{name}/clone", Tags: tags,
		Summary: "Copy a policy under a new name", Description: "Copies a built-in or custom policy into a new custom policy that can then be edited.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *policyCloneInput) (*policyOutput, error) {
		reg, _, err := s.registry(ctx)
		if err != nil {
			return nil, err
		}
		src, ok := reg.Get(in.Name)
		if !ok {
			return nil, notFound(in.Name)
		}
		cp := *src
		cp.Name = in.Body.Name
		if in.Body.Description != "" {
			cp.Description = in.Body.Description
		}
		doc, err := json.MarshalIndent(&cp, "", "  ")
		if err != nil {
			return nil, err
		}
		return s.createPolicy(ctx, pr, doc, in.Name)
	})

	register(s, huma.Operation{
		OperationID: "policies.validate", Method: http.MethodPost, Path: "/policies/validate", Tags: tags,
		Summary: "Check a policy document", Description: "Runs every check of create (strict parsing, fields, extends and overrides, pattern compilation, examples) without storing anything. Answers 200 with ok and the problems found.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *policyDocInput) (*policyValidateOutput, error) {
		out := &policyValidateOutput{}
		out.Body.Errors = []PolicyProblem{}
		reg, _, err := s.registry(ctx)
		if err != nil {
			return nil, err
		}
		_, n, err := s.checkDocument(ctx, reg, in.Body)
		if err != nil {
			var be *bulwark.Error
			if !errors.As(err, &be) || be.Code == bulwark.CodeInternal {
				return nil, err
			}
			for _, f := range be.Fields {
				out.Body.Errors = append(out.Body.Errors, PolicyProblem{Field: f.Field, Message: f.Message})
			}
			if len(be.Fields) == 0 {
				out.Body.Errors = append(out.Body.Errors, PolicyProblem{Message: be.Message})
			}
			return out, nil
		}
		out.Body.OK, out.Body.Rules = true, n
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "policies.test", Method: http.MethodPost, Path: "/policies/test", Tags: tags,
		Summary: "Scan a text with policies", Description: "Scans text with stored or built-in policies, or with an unsaved document, and returns the findings with byte offsets, and for redact rules the redacted text. Nothing is stored.",
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *policyTestInput) (*policyTestOutput, error) {
		reg, _, err := s.registry(ctx)
		if err != nil {
			return nil, err
		}
		var e *detect.Engine
		doc := strings.TrimSpace(string(in.Body.Document))
		switch {
		case doc != "" && doc != "null":
			p, _, err := s.checkDocument(ctx, reg, in.Body.Document)
			if err != nil {
				return nil, err
			}
			if e, err = s.engine(reg, p.Name); err != nil {
				return nil, err
			}
		case len(in.Body.Policies) > 0:
			for _, n := range in.Body.Policies {
				if _, ok := reg.Get(n); !ok {
					return nil, notFound(n)
				}
			}
			if e, err = s.engine(reg, in.Body.Policies...); err != nil {
				return nil, err
			}
		default:
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "policies", Message: "give policies to scan with, or a document"}})
		}
		proto, surface := bulwark.Protocol(orDefault(in.Body.Protocol, "llm")), bulwark.Surface(orDefault(in.Body.Surface, "prompt"))
		start := time.Now()
		res, err := e.ScanText(ctx, in.Body.Text, proto, surface)
		if err != nil {
			return nil, err
		}
		out := &policyTestOutput{}
		out.Body.Policies = e.RuleSet().Policies
		out.Body.Findings = []PolicyFinding{}
		redact := false
		for _, f := range res.Findings {
			pf := PolicyFinding{Finding: f}
			if r, ok := e.RuleSet().Rule(f.RuleID); ok {
				pf.Description = r.Description
			}
			out.Body.Findings = append(out.Body.Findings, pf)
			redact = redact || f.Action == bulwark.ActionRedact
		}
		if redact {
			out.Body.RedactedText, _ = e.Redact(in.Body.Text, proto, surface, detect.NewMasker())
		}
		out.Body.Blocked, out.Body.MaxSeverity, out.Body.Truncated = res.Blocked(), string(res.MaxSeverity()), res.Truncated
		out.Body.DurationUS = time.Since(start).Microseconds()
		return out, nil
	})
}

// createPolicy checks and stores a new custom policy; from names the
// policy it was cloned from, if any.
func (s *Server) createPolicy(ctx context.Context, pr *auth.Principal, doc []byte, from string) (*policyOutput, error) {
	st, reg, stored, unlock, err := s.beginPolicyChange(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var name struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(doc, &name)
	if b, _ := s.builtins(); b.Builtin(name.Name) {
		return nil, &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf("%q is the name of a built-in policy; choose another name", name.Name)}
	}
	if stored[name.Name] != nil {
		return nil, &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf("policy %q already exists", name.Name)}
	}
	// A clone copies a policy whose rules were checked already.
	p, _, err := s.check(ctx, reg, doc, from == "")
	if err != nil {
		return nil, err
	}
	sp := &bulwark.StoredPolicy{Name: p.Name, Version: p.Version, Description: p.Description, Document: doc, UpdatedBy: pr.User.Username}
	if err := st.CreatePolicy(ctx, sp); err != nil {
		return nil, err
	}
	details := map[string]any{"version": p.Version, "rules": len(p.Rules), "extends": p.Extends}
	if from != "" {
		details["cloned_from"] = from
	}
	s.audit(ctx, pr.User.Username, pr.User.ID, "policy.create", "policy", p.Name, bulwark.ResultSuccess, details)
	return s.policyDetail(ctx, p.Name)
}
