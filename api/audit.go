package api

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// AuditEntry is one audit record.
type AuditEntry struct {
	ID           int64          `json:"id"`
	Time         time.Time      `json:"time"`
	ActorID      int64          `json:"actor_id,omitempty"`
	Actor        string         `json:"actor"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type,omitempty"`
	ResourceID   string         `json:"resource_id,omitempty"`
	Result       string         `json:"result" enum:"success,failure,denied"`
	SourceIP     string         `json:"source_ip,omitempty"`
	UserAgent    string         `json:"user_agent,omitempty"`
	Details      map[string]any `json:"details,omitempty"`
}

func toAudit(e *bulwark.AuditEntry) AuditEntry {
	return AuditEntry{ID: e.ID, Time: e.Time, ActorID: e.ActorID, Actor: e.Actor, Action: e.Action, ResourceType: e.ResourceType,
		ResourceID: e.ResourceID, Result: e.Result, SourceIP: e.SourceIP, UserAgent: e.UserAgent, Details: e.Details}
}

type auditListInput struct {
	Actor        string    `query:"actor" maxLength:"64" doc:"Exact actor (username)"`
	Action       string    `query:"action" maxLength:"64" doc:"Exact action, or a prefix ending in a dot such as auth."`
	ResourceType string    `query:"resource_type" maxLength:"32"`
	ResourceID   string    `query:"resource_id" maxLength:"64"`
	Result       string    `query:"result" enum:"success,failure,denied," doc:"success, failure or denied"`
	Since        time.Time `query:"since" doc:"Only entries at or after this time (RFC 3339)"`
	Until        time.Time `query:"until" doc:"Only entries before this time (RFC 3339)"`
	Q            string    `query:"q" maxLength:"200" doc:"Free text over actor, action, resource id, source IP and details"`
	Sort         string    `query:"sort" enum:"-time,time,actor,-actor,action,-action,result,-result," doc:"Order: a column for ascending, -column for descending; default -time (newest first)"`
	Limit        int       `query:"limit" minimum:"1" maximum:"500" default:"50"`
	Offset       int       `query:"offset" minimum:"0" maximum:"1000000" default:"0"`
}

type auditListOutput struct {
	Body struct {
		Items  []AuditEntry `json:"items"`
		Total  int          `json:"total" doc:"Entries matching the filters"`
		Limit  int          `json:"limit"`
		Offset int          `json:"offset"`
	}
}

type auditGetInput struct {
	ID int64 `path:"id" minimum:"1"`
}

type auditGetOutput struct {
	Body AuditEntry
}

func (s *Server) auditRoutes() {
	tags := []string{"Audit log"}
	register(s, huma.Operation{
		OperationID: "audit.list", Method: http.MethodGet, Path: "/audit", Tags: tags, Summary: "List audit entries",
		Description: "Newest first, filtered and paginated.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *auditListInput) (*auditListOutput, error) {
		for _, f := range []struct{ name, v string }{{"actor", in.Actor}, {"action", in.Action}, {"resource_type", in.ResourceType}, {"resource_id", in.ResourceID}, {"q", in.Q}} {
			if bulwark.ContainsControl(f.v) {
				return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: f.name, Message: "must not contain control characters"}})
			}
		}
		if !in.Since.IsZero() && !in.Until.IsZero() && !in.Until.After(in.Since) {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "until", Message: "must be after since"}})
		}
		page, err := s.o.Store.ListAudit(ctx, bulwark.AuditFilter{
			Actor: in.Actor, Action: in.Action, ResourceType: in.ResourceType, ResourceID: in.ResourceID, Result: in.Result,
			Since: in.Since, Until: in.Until, Query: in.Q, Sort: in.Sort, Limit: in.Limit, Offset: in.Offset,
		})
		if err != nil {
			return nil, err
		}
		out := &auditListOutput{}
		out.Body.Items = make([]AuditEntry, 0, len(page.Items))
		for i := range page.Items {
			out.Body.Items = append(out.Body.Items, toAudit(&page.Items[i]))
		}
		out.Body.Total, out.Body.Limit, out.Body.Offset = page.Total, in.Limit, in.Offset
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "audit.get", Method: http.MethodGet, Path: "/audit/{id}", Tags: tags, Summary: "Get an audit entry",
		Errors: []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *auditGetInput) (*auditGetOutput, error) {
		e, err := s.o.Store.GetAudit(ctx, in.ID)
		if bulwark.IsNotFound(err) {
			return nil, bulwark.Errorf(bulwark.CodeNotFound, "no audit entry with id %d", in.ID)
		}
		if err != nil {
			return nil, err
		}
		return &auditGetOutput{Body: toAudit(e)}, nil
	})
}
