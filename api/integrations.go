package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/danielgtaylor/huma/v2"
)

// IntegrationRuntime runs the integrations (*integrations.Manager is one).
type IntegrationRuntime interface {
	// Reload makes the stored enabled integrations the delivered set.
	Reload(ctx context.Context) error
	// Test delivers one synthetic event through the integration's sink.
	Test(ctx context.Context, id int64) error
	Health() map[string]events.SinkHealth
	// Errors says why enabled integrations could not be started.
	Errors() map[string]string
}

// Integration is an event destination as the API shows it. Secrets are
// never returned, only their names.
type Integration struct {
	ID          int64           `json:"id"`
	Name        string          `json:"name"`
	Kind        string          `json:"kind" doc:"One of the kinds of GET /integrations/kinds"`
	Enabled     bool            `json:"enabled"`
	Types       []string        `json:"types" doc:"Event types delivered; empty: all"`
	MinSeverity string          `json:"min_severity,omitempty" doc:"Less severe events are dropped; empty: all"`
	Categories  []string        `json:"categories" doc:"Alert categories delivered; empty: all"`
	Settings    json.RawMessage `json:"settings" doc:"The kind's settings, without secrets"`
	SecretsSet  []string        `json:"secrets_set" doc:"Names of the secret fields that are stored (their values are never shown)"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at" doc:"Version; send it back with PUT to refuse overwriting someone else's change"`
	UpdatedBy   string          `json:"updated_by,omitempty"`
	Error       string          `json:"error,omitempty" doc:"Why the enabled integration is not running"`
}

// IntegrationFields are the settable fields of create and update.
type IntegrationFields struct {
	Name        string            `json:"name" maxLength:"63" doc:"Unique slug; also the delivery queue's name"`
	Kind        string            `json:"kind" maxLength:"32" doc:"One of the kinds of GET /integrations/kinds"`
	Enabled     *bool             `json:"enabled,omitempty" doc:"Deliver events (default true on create; kept when omitted on update)"`
	Types       []string          `json:"types,omitempty" maxItems:"16" doc:"Event types: alert, proxy_status, auth, config, system, integration_health; empty: all"`
	MinSeverity string            `json:"min_severity,omitempty" enum:"critical,high,medium,low,info," doc:"Minimum severity; empty: all"`
	Categories  []string          `json:"categories,omitempty" maxItems:"32" doc:"Alert categories; empty: all"`
	Settings    json.RawMessage   `json:"settings,omitempty" doc:"The kind's settings without secrets, as listed by GET /integrations/kinds (nested fields such as tls.insecure_skip_verify are objects: {\"tls\": {\"insecure_skip_verify\": true}}; durations are nanoseconds)"`
	Secrets     map[string]string `json:"secrets,omitempty" doc:"Write-only secret fields (secret: true in GET /integrations/kinds), stored encrypted; a list secret is one string separated by commas. On update, an omitted field keeps its stored value and \"\" removes it"`
}

type integrationIDInput struct {
	ID int64 `path:"id" minimum:"1"`
}

type integrationCreateInput struct {
	Body IntegrationFields
}

type integrationUpdateInput struct {
	ID   int64 `path:"id" minimum:"1"`
	Body struct {
		UpdatedAt *time.Time `json:"updated_at,omitempty" doc:"updated_at from GET; the update is refused with 409 when the integration changed since"`
		IntegrationFields
	}
}

type integrationOutput struct{ Body Integration }

type integrationListOutput struct {
	Body struct {
		Items []Integration `json:"items"`
		Total int           `json:"total"`
	}
}

// IntegrationHealth is one integration's delivery health.
type IntegrationHealth struct {
	ID                  int64      `json:"id"`
	Name                string     `json:"name"`
	Enabled             bool       `json:"enabled"`
	State               string     `json:"state" enum:"healthy,degraded,failed,stopped,unknown" doc:"stopped: disabled or not started (see error); unknown: delivery does not run on this server"`
	Since               *time.Time `json:"since,omitempty"`
	Sent                int64      `json:"sent"`
	Failed              int64      `json:"failed"`
	Retried             int64      `json:"retried"`
	DeadLettered        int64      `json:"dead_lettered"`
	QueueDepth          int        `json:"queue_depth"`
	OldestPendingSecond *float64   `json:"oldest_pending_seconds,omitempty"`
	LastSuccess         *time.Time `json:"last_success,omitempty"`
	LastError           string     `json:"last_error,omitempty"`
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
	Error               string     `json:"error,omitempty" doc:"Why the enabled integration is not running"`
}

type integrationHealthOutput struct {
	Body struct {
		Items []IntegrationHealth `json:"items"`
	}
}

// IntegrationTestResult is the outcome of a test delivery.
type IntegrationTestResult struct {
	OK         bool    `json:"ok"`
	Error      string  `json:"error,omitempty" doc:"The sink's exact error"`
	Permanent  bool    `json:"permanent,omitempty" doc:"The receiver refused (a retry will not help)"`
	Status     int     `json:"status,omitempty" doc:"HTTP status of the receiver's answer"`
	DurationMs float64 `json:"duration_ms"`
}

type integrationTestOutput struct{ Body IntegrationTestResult }

func (s *Server) integrationStore() (bulwark.IntegrationStore, error) {
	if s.o.Integrations == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "integrations are not available on this server"}
	}
	return s.o.Integrations, nil
}

func (s *Server) runtimeErrors() map[string]string {
	if s.o.IntegrationRuntime == nil {
		return nil
	}
	return s.o.IntegrationRuntime.Errors()
}

func toIntegration(i *bulwark.Integration, secretNames []string, errs map[string]string) Integration {
	out := Integration{ID: i.ID, Name: i.Name, Kind: string(i.Kind), Enabled: i.Enabled, Types: []string{},
		MinSeverity: string(i.MinSeverity), Categories: nonNil(i.Categories), Settings: i.Settings,
		SecretsSet: nonNil(secretNames), CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, UpdatedBy: i.UpdatedBy}
	for _, t := range i.Types {
		out.Types = append(out.Types, string(t))
	}
	if len(out.Settings) == 0 {
		out.Settings = json.RawMessage(`{}`)
	}
	if i.Enabled {
		out.Error = errs[i.Name]
	}
	return out
}

// openSecrets decrypts stored secrets; only their names are ever shown.
func (s *Server) openSecrets(i *bulwark.Integration) (map[string]string, error) {
	if i.Secrets == "" {
		return map[string]string{}, nil
	}
	ring, ok := s.o.Keyring.(integrations.Keyring)
	if !ok || s.o.Keyring == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "secret encryption is not configured on this server"}
	}
	m, err := integrations.Secrets(ring, i)
	if err != nil {
		return nil, &bulwark.Error{Code: bulwark.CodeInternal, Message: "the stored secrets cannot be decrypted", Err: err}
	}
	return m, nil
}

func secretNames(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// sealSecrets encrypts the secret fields for storage ("" when none).
func (s *Server) sealSecrets(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	for k, v := range m {
		if bulwark.ContainsControl(v) {
			return "", bulwark.ValidationError([]bulwark.FieldError{{Field: "secrets." + k, Message: "must not contain control characters"}})
		}
	}
	if s.o.Keyring == nil {
		return "", &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "secret encryption is not configured on this server"}
	}
	raw, _ := json.Marshal(m)
	return s.o.Keyring.EncryptString(string(raw), bulwark.IntegrationSecretsAD)
}

// integrationFromFields fills i from f; secrets are merged by the caller.
func integrationFromFields(i *bulwark.Integration, f *IntegrationFields) {
	i.Name, i.Kind, i.MinSeverity = f.Name, bulwark.IntegrationKind(f.Kind), bulwark.Severity(f.MinSeverity)
	i.Types = nil
	for _, t := range f.Types {
		i.Types = append(i.Types, bulwark.EventType(t))
	}
	i.Categories = f.Categories
	i.Settings = f.Settings
	if len(i.Settings) == 0 || string(i.Settings) == "null" {
		i.Settings = json.RawMessage(`{}`)
	}
	if f.Enabled != nil {
		i.Enabled = *f.Enabled
	}
}

// checkIntegration validates i with its plaintext secrets the way the sink
// will be built (422 naming the field).
func checkIntegration(i *bulwark.Integration, secrets map[string]string) error {
	if err := i.Validate(); err != nil {
		return err
	}
	_, _, err := integrations.Build(i, secrets)
	return err
}

func (s *Server) reloadIntegrations(ctx context.Context) {
	if s.o.IntegrationRuntime == nil {
		return
	}
	if err := s.o.IntegrationRuntime.Reload(detached(ctx)); err != nil {
		s.o.Log.Error("reload integrations", "error", err)
	}
}

func integrationAuditDetails(i *bulwark.Integration, secretNames []string) map[string]any {
	return map[string]any{"name": i.Name, "kind": i.Kind, "enabled": i.Enabled, "types": i.Types, "min_severity": i.MinSeverity,
		"categories": nonNil(i.Categories), "settings": i.Settings, "secrets_set": nonNil(secretNames)}
}

func (s *Server) integrationRoutes() {
	tags := []string{"Integrations"}

	register(s, huma.Operation{
		OperationID: "integrations.list", Method: http.MethodGet, Path: "/integrations", Tags: tags, Summary: "List integrations",
		Description: "Every integration, ordered by name. Secrets are never returned, only the names of those set.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*integrationListOutput, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		list, err := st.ListIntegrations(ctx)
		if err != nil {
			return nil, err
		}
		errs := s.runtimeErrors()
		out := &integrationListOutput{}
		out.Body.Items = make([]Integration, 0, len(list))
		for _, i := range list {
			sec, err := s.openSecrets(i)
			if err != nil {
				return nil, err
			}
			out.Body.Items = append(out.Body.Items, toIntegration(i, secretNames(sec), errs))
		}
		out.Body.Total = len(list)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.health", Method: http.MethodGet, Path: "/integrations/health", Tags: tags, Summary: "Integration health",
		Description: "Delivery health and counters of every integration since this server started.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*integrationHealthOutput, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		list, err := st.ListIntegrations(ctx)
		if err != nil {
			return nil, err
		}
		var health map[string]events.SinkHealth
		if s.o.IntegrationRuntime != nil {
			health = s.o.IntegrationRuntime.Health()
		}
		errs := s.runtimeErrors()
		out := &integrationHealthOutput{}
		out.Body.Items = make([]IntegrationHealth, 0, len(list))
		for _, i := range list {
			h := IntegrationHealth{ID: i.ID, Name: i.Name, Enabled: i.Enabled, State: "stopped"}
			if i.Enabled {
				h.Error = errs[i.Name]
			}
			if s.o.IntegrationRuntime == nil {
				h.State = "unknown"
			} else if sh, ok := health[i.Name]; ok {
				h.State, h.Since = string(sh.State), timePtr(sh.Since)
				h.Sent, h.Failed, h.Retried, h.DeadLettered, h.QueueDepth = sh.Sent, sh.Failed, sh.Retried, sh.DeadLettered, sh.QueueDepth
				if sh.HasOldestPending {
					sec := sh.OldestPendingAge.Seconds()
					h.OldestPendingSecond = &sec
				}
				h.LastSuccess, h.LastError, h.LastErrorAt = timePtr(sh.LastSuccess), sh.LastError, timePtr(sh.LastErrorAt)
			}
			out.Body.Items = append(out.Body.Items, h)
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.get", Method: http.MethodGet, Path: "/integrations/{id}", Tags: tags, Summary: "Show an integration",
		Errors: []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *integrationIDInput) (*integrationOutput, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		i, err := st.GetIntegration(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sec, err := s.openSecrets(i)
		if err != nil {
			return nil, err
		}
		return &integrationOutput{Body: toIntegration(i, secretNames(sec), s.runtimeErrors())}, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.create", Method: http.MethodPost, Path: "/integrations", Tags: tags, Summary: "Create an integration",
		Description: "Stores an integration and starts delivering to it when enabled (the default). Settings are checked as the sink " +
			"will use them (422 names the field); secrets are encrypted at rest and never returned. Admins only: an integration " +
			"receives the security events. Audited as integration.create.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, admin, func(ctx context.Context, pr *auth.Principal, in *integrationCreateInput) (*integrationOutput, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		i := &bulwark.Integration{Enabled: true, UpdatedBy: pr.User.Username}
		integrationFromFields(i, &in.Body)
		sec := map[string]string{}
		for k, v := range in.Body.Secrets {
			if v != "" {
				sec[k] = v
			}
		}
		if err := checkIntegration(i, sec); err != nil {
			return nil, err
		}
		if i.Secrets, err = s.sealSecrets(sec); err != nil {
			return nil, err
		}
		if err := st.CreateIntegration(ctx, i); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "integration.create", "integration", i.Name, bulwark.ResultSuccess, integrationAuditDetails(i, secretNames(sec)))
		s.reloadIntegrations(ctx)
		return &integrationOutput{Body: toIntegration(i, secretNames(sec), s.runtimeErrors())}, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.update", Method: http.MethodPut, Path: "/integrations/{id}", Tags: tags, Summary: "Replace an integration",
		Description: "Replaces the integration's fields; enabled and each secret keep their stored values when omitted (a secret \"\" " +
			"removes it). Send updated_at from GET to refuse the update (409) when someone changed it meanwhile. Audited as integration.update.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, admin, func(ctx context.Context, pr *auth.Principal, in *integrationUpdateInput) (*integrationOutput, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		old, err := st.GetIntegration(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		b := &in.Body
		if b.UpdatedAt != nil && !b.UpdatedAt.Equal(old.UpdatedAt) {
			return nil, staleVersion("integration", fmt.Sprintf("%q", old.Name), old.UpdatedBy)
		}
		sec, err := s.openSecrets(old)
		if err != nil {
			return nil, err
		}
		oldNames := secretNames(sec)
		changedSecrets := []string{}
		for k, v := range b.Secrets {
			if v == "" {
				if _, had := sec[k]; had {
					changedSecrets = append(changedSecrets, k)
				}
				delete(sec, k)
				continue
			}
			sec[k] = v
			changedSecrets = append(changedSecrets, k)
		}
		i := *old
		i.UpdatedBy = pr.User.Username
		integrationFromFields(&i, &b.IntegrationFields)
		if i.Kind != old.Kind {
			// Secrets of another kind do not carry over.
			for k := range sec {
				if _, sent := b.Secrets[k]; !sent {
					delete(sec, k)
				}
			}
		}
		if err := checkIntegration(&i, sec); err != nil {
			return nil, err
		}
		if i.Secrets, err = s.sealSecrets(sec); err != nil {
			return nil, err
		}
		if err := st.UpdateIntegration(ctx, &i, old.UpdatedAt); err != nil {
			return nil, err
		}
		details := integrationAuditDetails(&i, secretNames(sec))
		slices.Sort(changedSecrets)
		details["secrets_changed"] = changedSecrets
		details["was_enabled"] = old.Enabled
		details["previous_secrets_set"] = nonNil(oldNames)
		s.audit(ctx, pr.User.Username, pr.User.ID, "integration.update", "integration", i.Name, bulwark.ResultSuccess, details)
		s.reloadIntegrations(ctx)
		return &integrationOutput{Body: toIntegration(&i, secretNames(sec), s.runtimeErrors())}, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.delete", Method: http.MethodDelete, Path: "/integrations/{id}", Tags: tags, Summary: "Delete an integration",
		Description:   "Stops delivering to the integration and deletes it; events already queued for it stay in the outbox. Audited as integration.delete.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, admin, func(ctx context.Context, pr *auth.Principal, in *integrationIDInput) (*struct{}, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		i, err := st.GetIntegration(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if err := st.DeleteIntegration(ctx, in.ID); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "integration.delete", "integration", i.Name, bulwark.ResultSuccess, map[string]any{"kind": i.Kind})
		s.reloadIntegrations(ctx)
		return nil, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.test", Method: http.MethodPost, Path: "/integrations/{id}/test", Tags: tags, Summary: "Test an integration",
		Description: "Sends one synthetic test event (type system, action integration.test) straight to the destination, not through " +
			"the queue, and reports the exact error. Works on disabled integrations. Audited as integration.test.",
		Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, admin, func(ctx context.Context, pr *auth.Principal, in *integrationIDInput) (*integrationTestOutput, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		i, err := st.GetIntegration(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if s.o.IntegrationRuntime == nil {
			return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "event delivery does not run on this server"}
		}
		start := time.Now()
		terr := s.o.IntegrationRuntime.Test(ctx, in.ID)
		out := &integrationTestOutput{}
		out.Body.DurationMs = float64(time.Since(start).Microseconds()) / 1000
		result := bulwark.ResultSuccess
		if terr == nil {
			out.Body.OK = true
		} else {
			if bulwark.ErrorCodeOf(terr) == bulwark.CodeNotFound {
				return nil, terr
			}
			result = bulwark.ResultFailure
			out.Body.Error = terr.Error()
			if be, ok := asBulwarkError(terr); ok && be.Code == bulwark.CodeUnprocessable {
				out.Body.Permanent = true
			}
			if de, ok := asDeliveryError(terr); ok {
				out.Body.Permanent, out.Body.Status = de.Permanent, de.Status
			}
		}
		details := map[string]any{"kind": i.Kind, "ok": out.Body.OK}
		if !out.Body.OK {
			details["error"] = out.Body.Error
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "integration.test", "integration", i.Name, result, details)
		return out, nil
	})
}

func asBulwarkError(err error) (*bulwark.Error, bool) {
	var e *bulwark.Error
	ok := errors.As(err, &e)
	return e, ok
}

func asDeliveryError(err error) (*events.DeliveryError, bool) {
	var e *events.DeliveryError
	ok := errors.As(err, &e)
	return e, ok
}
