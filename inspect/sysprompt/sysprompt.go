// Package sysprompt is the governance-prompt stage: it picks the
// highest-priority system prompt that applies to the proxy and the client's
// group, renders its template with the request's variables, and hands the
// text to the adapter, which injects it as the first system message.
package sysprompt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

// Vars are the values a template can use; the field names are
// bulwark.SystemPromptVars.
type Vars struct {
	User, UserEmail, Group, Proxy, Date, Time, Organization string
}

// Parse compiles a template and rejects anything but the known variables,
// so a typo is caught when the prompt is saved, not when a request renders
// it. Only plain variable references and the built-in template actions are
// allowed.
func Parse(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template does not parse: %w", err)
	}
	var bad []string
	walk(t.Root, func(n parse.Node) {
		if f, ok := n.(*parse.FieldNode); ok {
			if len(f.Ident) != 1 || !slices.Contains(bulwark.SystemPromptVars, f.Ident[0]) {
				bad = append(bad, "."+strings.Join(f.Ident, "."))
			}
		}
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("unknown variable %s; the variables are %s", strings.Join(bad, ", "), varList())
	}
	// A trial render catches the rest (for example calling a variable as a function).
	if err := t.Execute(&strings.Builder{}, Vars{}); err != nil {
		return nil, fmt.Errorf("template does not render: %w", err)
	}
	return t, nil
}

func varList() string {
	parts := make([]string, len(bulwark.SystemPromptVars))
	for i, v := range bulwark.SystemPromptVars {
		parts[i] = "{{." + v + "}}"
	}
	return strings.Join(parts, " ")
}

// walk visits every node of a template parse tree.
func walk(n parse.Node, f func(parse.Node)) {
	if n == nil {
		return
	}
	f(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, f)
		}
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, f)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, f)
		}
	case *parse.IfNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.ChainNode:
		walk(n.Node, f)
	}
}

type prompt struct {
	p *bulwark.SystemPrompt
	t *template.Template
}

// Stage injects the applicable governance prompt.
type Stage struct {
	prompts      []prompt // highest priority first
	organization func() string
	now          func() time.Time
}

// New compiles the enabled prompts. A prompt that does not compile is an
// error naming it: the gateway refuses to run a proxy with a broken
// governance prompt rather than run it without one.
//
// organization returns the {{.Organization}} value (the instance setting,
// read per request so a change applies without a rebuild); nil means "".
func New(prompts []*bulwark.SystemPrompt, organization func() string, now func() time.Time) (*Stage, error) {
	if now == nil {
		now = time.Now
	}
	if organization == nil {
		organization = func() string { return "" }
	}
	s := &Stage{organization: organization, now: now}
	for _, p := range prompts {
		if !p.Enabled {
			continue
		}
		t, err := Parse(p.Name, p.Template)
		if err != nil {
			return nil, fmt.Errorf("system prompt %q: %w", p.Name, err)
		}
		s.prompts = append(s.prompts, prompt{p, t})
	}
	slices.SortStableFunc(s.prompts, func(a, b prompt) int {
		if a.p.Priority != b.p.Priority {
			return b.p.Priority - a.p.Priority
		}
		return strings.Compare(a.p.Name, b.p.Name)
	})
	return s, nil
}

// Name implements inspect.Stage.
func (s *Stage) Name() string { return "sysprompt" }

// Select returns the prompt that applies to proxy and group, or nil.
func (s *Stage) Select(proxy, group string) *bulwark.SystemPrompt {
	for _, p := range s.prompts {
		if p.p.Applies(proxy, group) {
			return p.p
		}
	}
	return nil
}

// Request renders the applicable prompt into x.SystemPrompt.
func (s *Stage) Request(_ context.Context, x *inspect.Exchange) error {
	if x.Request == nil || len(s.prompts) == 0 {
		return nil
	}
	v := Vars{Proxy: x.Proxy}
	if x.Group != nil {
		v.Group = x.Group.Name
	}
	if x.Key != nil {
		v.User, v.UserEmail = x.Key.User, x.Key.UserEmail
	}
	for _, p := range s.prompts {
		if !p.p.Applies(v.Proxy, v.Group) {
			continue
		}
		t := s.now().UTC()
		v.Date, v.Time = t.Format("2006-01-02"), t.Format("15:04:05 UTC")
		v.Organization = s.organization()
		var b strings.Builder
		if err := p.t.Execute(&b, v); err != nil {
			return fmt.Errorf("system prompt %q: %w", p.p.Name, err)
		}
		x.SystemPrompt = b.String()
		return nil
	}
	return nil
}
