package api

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"runtime"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

type settingsOutput struct {
	Body bulwark.Settings
}

type settingsPatchInput struct {
	Body struct {
		OrganizationName     *string `json:"organization_name,omitempty" maxLength:"128" doc:"Shown in the console and available to system prompts"`
		AuditRetentionDays   *int    `json:"audit_retention_days,omitempty" minimum:"0" maximum:"3650" doc:"Audit entries older than this are deleted; 0 keeps them forever"`
		RequestRetentionDays *int    `json:"request_retention_days,omitempty" minimum:"0" maximum:"3650" doc:"Gateway request records older than this are deleted; 0 keeps them forever"`
		EventRetentionDays   *int    `json:"event_retention_days,omitempty" minimum:"0" maximum:"3650" doc:"Events older than this are deleted with their finished or dead-lettered deliveries (never one still pending); 0 keeps them forever"`
		AlertRetentionDays   *int    `json:"alert_retention_days,omitempty" minimum:"0" maximum:"3650" doc:"Resolved and false-positive alerts older than this are deleted (open alerts are kept); 0 keeps them forever"`
		SessionIdleMinutes   *int    `json:"session_idle_minutes,omitempty" minimum:"5" maximum:"10080" doc:"A console session unused this long ends"`
		LoginMaxFailures     *int    `json:"login_max_failures,omitempty" minimum:"3" maximum:"100" doc:"Failed logins before the account locks"`
		LoginLockoutMins     *int    `json:"login_lockout_minutes,omitempty" minimum:"1" maximum:"1440" doc:"How long a locked account stays locked"`
	}
}

type healthOutput struct {
	Status int `header:"-"`
	Body   struct {
		Status   string `json:"status" enum:"ok,unavailable"`
		Database string `json:"database" doc:"ok, or why the database is not ready"`
	}
}

type systemOutput struct {
	Body struct {
		Version        string    `json:"version"`
		Commit         string    `json:"commit,omitempty"`
		GoVersion      string    `json:"go_version"`
		DatabaseEngine string    `json:"database_engine"`
		StartedAt      time.Time `json:"started_at"`
		UptimeSeconds  int64     `json:"uptime_seconds"`
	}
}

func (s *Server) settingsRoutes() {
	tags := []string{"Settings"}
	register(s, huma.Operation{
		OperationID: "settings.get", Method: http.MethodGet, Path: "/settings", Tags: tags, Summary: "Get settings",
	}, viewer, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*settingsOutput, error) {
		st, err := loadSettings(ctx, s.o.Store)
		if err != nil {
			return nil, err
		}
		return &settingsOutput{Body: st}, nil
	})

	register(s, huma.Operation{
		OperationID: "settings.update", Method: http.MethodPatch, Path: "/settings", Tags: tags, Summary: "Change settings",
		Description: "Changes only the settings given; returns all settings.", Errors: []int{http.StatusUnprocessableEntity},
	}, admin, func(ctx context.Context, p *auth.Principal, in *settingsPatchInput) (*settingsOutput, error) {
		cur, err := loadSettings(ctx, s.o.Store)
		if err != nil {
			return nil, err
		}
		next := cur
		b := in.Body
		if b.OrganizationName != nil {
			next.OrganizationName = *b.OrganizationName
		}
		for _, f := range []struct {
			v   *int
			dst *int
		}{{b.AuditRetentionDays, &next.AuditRetentionDays}, {b.RequestRetentionDays, &next.RequestRetentionDays},
			{b.EventRetentionDays, &next.EventRetentionDays}, {b.AlertRetentionDays, &next.AlertRetentionDays}, {b.SessionIdleMinutes, &next.SessionIdleMinutes},
			{b.LoginMaxFailures, &next.LoginMaxFailures}, {b.LoginLockoutMins, &next.LoginLockoutMins}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		if err := next.Validate(); err != nil {
			return nil, err
		}
		changes, values := diffSettings(cur, next)
		if len(values) > 0 {
			if err := s.o.Store.PutSettings(ctx, values, p.User.Username, s.o.Auth.Now()); err != nil {
				return nil, err
			}
			s.invalidateSettings()
			s.audit(ctx, p.User.Username, p.User.ID, "settings.update", "settings", "general", bulwark.ResultSuccess, map[string]any{"changes": changes})
		}
		return &settingsOutput{Body: next}, nil
	})
}

// diffSettings returns the changed keys as {key: {from, to}} and as stored JSON values.
func diffSettings(a, b bulwark.Settings) (map[string]any, map[string]json.RawMessage) {
	changes, values := map[string]any{}, map[string]json.RawMessage{}
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < av.NumField(); i++ {
		key := av.Type().Field(i).Tag.Get("json")
		x, y := av.Field(i).Interface(), bv.Field(i).Interface()
		if x != y {
			changes[key] = map[string]any{"from": x, "to": y}
			values[key], _ = json.Marshal(y)
		}
	}
	return changes, values
}

func (s *Server) systemRoutes() {
	register(s, huma.Operation{
		OperationID: "system.health", Method: http.MethodGet, Path: "/health", Tags: []string{"System"}, Summary: "Health",
		Description: "Public readiness summary: 200 when the database is ready, 503 otherwise.",
		Errors:      []int{http.StatusServiceUnavailable},
	}, public, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{Status: http.StatusOK}
		out.Body.Status, out.Body.Database = "ok", "ok"
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := s.o.Store.Ready(cctx); err != nil {
			out.Status, out.Body.Status, out.Body.Database = http.StatusServiceUnavailable, "unavailable", "not ready"
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "system.info", Method: http.MethodGet, Path: "/system", Tags: []string{"System"}, Summary: "Version and runtime",
	}, viewer, func(_ context.Context, _ *auth.Principal, _ *struct{}) (*systemOutput, error) {
		out := &systemOutput{}
		i := s.o.Info
		out.Body.Version, out.Body.Commit, out.Body.GoVersion, out.Body.DatabaseEngine = i.Version, i.Commit, runtime.Version(), i.Engine
		out.Body.StartedAt, out.Body.UptimeSeconds = i.StartedAt, int64(time.Since(i.StartedAt).Seconds())
		return out, nil
	})
}
