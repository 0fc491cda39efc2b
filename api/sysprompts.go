package api

import (
	"context"
	"fmt"
	"net/http"
	"text/template"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// SystemPrompt is a governance prompt injected into requests.
type SystemPrompt struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Template    string    `json:"template" doc:"Go text/template; variables {{.User}} {{.UserEmail}} {{.Group}} {{.Proxy}} {{.Date}} {{.Time}} {{.Organization}}"`
	Priority    int       `json:"priority" doc:"Of the prompts that apply to a request, the one with the highest priority is injected"`
	Proxies     []string  `json:"proxies" doc:"Proxies it applies to; empty: all"`
	Groups      []string  `json:"groups" doc:"Groups it applies to; empty: all"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at" doc:"Version; send it back with PUT to refuse overwriting someone else's change"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
}

// SystemPromptSettings are the settable fields of a system prompt.
type SystemPromptSettings struct {
	Name        string   `json:"name" maxLength:"63" doc:"Unique name: lower-case letters, digits and inner hyphens"`
	Description string   `json:"description,omitempty" maxLength:"1024"`
	Template    string   `json:"template" maxLength:"32768" doc:"Go text/template using only the variables User, UserEmail, Group, Proxy, Date, Time, Organization"`
	Priority    int      `json:"priority,omitempty" minimum:"-1000000" maximum:"1000000"`
	Proxies     []string `json:"proxies,omitempty" maxItems:"256" doc:"Proxy names; empty: all"`
	Groups      []string `json:"groups,omitempty" maxItems:"256" doc:"Group names; empty: all"`
	Enabled     *bool    `json:"enabled,omitempty" doc:"Default true on create; kept when omitted on update"`
}

type systemPromptCreateInput struct {
	Body SystemPromptSettings
}

type systemPromptUpdateInput struct {
	ID   int64 `path:"id" minimum:"1"`
	Body struct {
		SystemPromptSettings
		UpdatedAt *time.Time `json:"updated_at,omitempty" doc:"updated_at from GET; the update is refused with 409 when the prompt changed since"`
	}
}

type systemPromptIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"System prompt id"`
}

type systemPromptListOutput struct {
	Body struct {
		Items []SystemPrompt `json:"items"`
		Total int            `json:"total"`
	}
}

type systemPromptOutput struct {
	Body SystemPrompt
}

func toSystemPrompt(p *bulwark.SystemPrompt) SystemPrompt {
	return SystemPrompt{ID: p.ID, Name: p.Name, Description: p.Description, Template: p.Template, Priority: p.Priority,
		Proxies: nonNil(p.Proxies), Groups: nonNil(p.Groups), Enabled: p.Enabled, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy}
}

func getSystemPrompt(ctx context.Context, st bulwark.GatewayStore, id int64) (*bulwark.SystemPrompt, error) {
	p, err := st.GetSystemPrompt(ctx, id)
	if bulwark.IsNotFound(err) {
		return nil, bulwark.Errorf(bulwark.CodeNotFound, "no system prompt with id %d", id)
	}
	return p, err
}

// checkSystemPrompt validates the fields and the template, and checks that
// the proxies and groups it names exist.
func (s *Server) checkSystemPrompt(ctx context.Context, st bulwark.GatewayStore, p *bulwark.SystemPrompt) error {
	fe, err := fieldErrors(p.Validate())
	if err != nil {
		return err
	}
	templateOK := true
	for _, f := range fe {
		templateOK = templateOK && f.Field != "template"
	}
	if templateOK {
		var terr error
		if s.o.ValidateSystemPrompt != nil {
			terr = s.o.ValidateSystemPrompt(p.Name, p.Template)
		} else {
			_, terr = template.New(p.Name).Parse(p.Template)
		}
		if terr != nil {
			fe = append(fe, bulwark.FieldError{Field: "template", Message: terr.Error()})
		}
	}
	proxies, err := proxyNames(ctx, st)
	if err != nil {
		return err
	}
	groups, err := st.ListGroups(ctx)
	if err != nil {
		return err
	}
	groupNames := map[string]bool{}
	for _, g := range groups {
		groupNames[g.Name] = true
	}
	fe = append(fe, checkNames("proxies", "proxy", p.Proxies, proxies, true)...)
	fe = append(fe, checkNames("groups", "group", p.Groups, groupNames, true)...)
	return bulwark.ValidationError(fe)
}

func systemPromptFromFields(p *bulwark.SystemPrompt, f *SystemPromptSettings) {
	p.Name, p.Description, p.Template, p.Priority = f.Name, f.Description, f.Template, f.Priority
	p.Proxies, p.Groups = nonNil(f.Proxies), nonNil(f.Groups)
	if f.Enabled != nil {
		p.Enabled = *f.Enabled
	}
}

func systemPromptAuditDetails(p *bulwark.SystemPrompt) map[string]any {
	return map[string]any{"name": p.Name, "priority": p.Priority, "proxies": nonNil(p.Proxies), "groups": nonNil(p.Groups),
		"enabled": p.Enabled, "template_bytes": len(p.Template)}
}

func (s *Server) systemPromptRoutes() {
	tags := []string{"System prompts"}

	register(s, huma.Operation{
		OperationID: "system_prompts.list", Method: http.MethodGet, Path: "/system-prompts", Tags: tags, Summary: "List system prompts",
		Description: "Highest priority first, then by name.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*systemPromptListOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		list, err := st.ListSystemPrompts(ctx)
		if err != nil {
			return nil, err
		}
		out := &systemPromptListOutput{}
		out.Body.Items = make([]SystemPrompt, 0, len(list))
		for _, p := range list {
			out.Body.Items = append(out.Body.Items, toSystemPrompt(p))
		}
		out.Body.Total = len(list)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "system_prompts.get", Method: http.MethodGet, Path: "/system-prompts/{id}", Tags: tags, Summary: "Show a system prompt",
		Errors: []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *systemPromptIDInput) (*systemPromptOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		p, err := getSystemPrompt(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		return &systemPromptOutput{Body: toSystemPrompt(p)}, nil
	})

	register(s, huma.Operation{
		OperationID: "system_prompts.create", Method: http.MethodPost, Path: "/system-prompts", Tags: tags, Summary: "Create a system prompt",
		Description: "The template must parse and use only the known variables (422 on field template otherwise); the proxies and groups it names must exist. " +
			"Every proxy is reloaded. Audited as system_prompt.create.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *systemPromptCreateInput) (*systemPromptOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		p := &bulwark.SystemPrompt{Enabled: true, UpdatedBy: pr.User.Username}
		systemPromptFromFields(p, &in.Body)
		if err := s.checkSystemPrompt(ctx, st, p); err != nil {
			return nil, err
		}
		if err := st.CreateSystemPrompt(ctx, p); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "system_prompt.create", "system_prompt", idString(p.ID), bulwark.ResultSuccess, systemPromptAuditDetails(p))
		s.reloadAll(ctx)
		return &systemPromptOutput{Body: toSystemPrompt(p)}, nil
	})

	register(s, huma.Operation{
		OperationID: "system_prompts.update", Method: http.MethodPut, Path: "/system-prompts/{id}", Tags: tags, Summary: "Replace a system prompt",
		Description: "Replaces every field; enabled keeps its stored value when omitted. Send updated_at from GET to refuse the update (409) " +
			"when someone changed the prompt meanwhile. Every proxy is reloaded. Audited as system_prompt.update.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *systemPromptUpdateInput) (*systemPromptOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		old, err := getSystemPrompt(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		if in.Body.UpdatedAt != nil && !in.Body.UpdatedAt.Equal(old.UpdatedAt) {
			return nil, staleVersion("system prompt", fmt.Sprintf("%q", old.Name), old.UpdatedBy)
		}
		p := *old
		p.UpdatedBy = pr.User.Username
		systemPromptFromFields(&p, &in.Body.SystemPromptSettings)
		if err := s.checkSystemPrompt(ctx, st, &p); err != nil {
			return nil, err
		}
		if err := st.UpdateSystemPrompt(ctx, &p, old.UpdatedAt); err != nil {
			return nil, err
		}
		details := systemPromptAuditDetails(&p)
		details["changed"] = changedFields(
			same("name", old.Name, p.Name), same("description", old.Description, p.Description), same("template", old.Template, p.Template),
			same("priority", old.Priority, p.Priority), sameList("proxies", old.Proxies, p.Proxies), sameList("groups", old.Groups, p.Groups),
			same("enabled", old.Enabled, p.Enabled),
		)
		s.audit(ctx, pr.User.Username, pr.User.ID, "system_prompt.update", "system_prompt", idString(p.ID), bulwark.ResultSuccess, details)
		s.reloadAll(ctx)
		return &systemPromptOutput{Body: toSystemPrompt(&p)}, nil
	})

	register(s, huma.Operation{
		OperationID: "system_prompts.delete", Method: http.MethodDelete, Path: "/system-prompts/{id}", Tags: tags, Summary: "Delete a system prompt",
		Description:   "Every proxy is reloaded. Audited as system_prompt.delete.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *systemPromptIDInput) (*struct{}, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		p, err := getSystemPrompt(ctx, st, in.ID)
		if err != nil {
			return nil, err
		}
		if err := st.DeleteSystemPrompt(ctx, p.ID); err != nil {
			if bulwark.IsNotFound(err) {
				return nil, bulwark.Errorf(bulwark.CodeNotFound, "no system prompt with id %d", in.ID)
			}
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "system_prompt.delete", "system_prompt", idString(p.ID), bulwark.ResultSuccess, map[string]any{"name": p.Name})
		s.reloadAll(ctx)
		return nil, nil
	})
}
