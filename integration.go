package bulwark

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// IntegrationKind is the destination type of an integration.
type IntegrationKind string

// Integration kinds.
const (
	IntegrationWebhook   IntegrationKind = "webhook"
	IntegrationSlack     IntegrationKind = "slack"
	IntegrationSplunk    IntegrationKind = "splunk"
	IntegrationElastic   IntegrationKind = "elastic"
	IntegrationPagerDuty IntegrationKind = "pagerduty"
	IntegrationTeams     IntegrationKind = "teams"
	IntegrationEmail     IntegrationKind = "email"
	IntegrationSyslog    IntegrationKind = "syslog"
	// IntegrationSIEMHTTP posts CEF/LEEF lines or JSON to an HTTP(S)
	// collector (QRadar HTTP Receiver, a collector in front of ArcSight, …).
	IntegrationSIEMHTTP IntegrationKind = "siem_http"
	// IntegrationLangfuse sends request records (LLM calls), not events.
	IntegrationLangfuse IntegrationKind = "langfuse"
)

// IntegrationKinds lists every kind.
var IntegrationKinds = []IntegrationKind{IntegrationWebhook, IntegrationSlack, IntegrationSplunk, IntegrationElastic, IntegrationPagerDuty, IntegrationTeams, IntegrationEmail, IntegrationSyslog, IntegrationSIEMHTTP, IntegrationLangfuse}

// IntegrationKindList is the kinds for error messages: "webhook, slack, …".
func IntegrationKindList() string {
	names := make([]string, len(IntegrationKinds))
	for n, k := range IntegrationKinds {
		names[n] = string(k)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether k is a known kind.
func (k IntegrationKind) Valid() bool { return slices.Contains(IntegrationKinds, k) }

// EventTypes lists every event class an integration may choose.
var EventTypes = []EventType{EventAlert, EventProxyStatus, EventAuth, EventConfig, EventSystem, EventIntegrationHealth}

// IntegrationSecretsAD is the associated data of encrypted integration
// secrets (the keyring's EncryptString/DecryptString).
const IntegrationSecretsAD = "bulwark/integration-secrets"

// Integration is a configured event destination: a sink of Kind named Name
// (also its outbox name) with its route filters.
type Integration struct {
	ID      int64
	Name    string // slug, unique; the sink and outbox name
	Kind    IntegrationKind
	Enabled bool
	// Route filters: empty Types and Categories mean all; "" MinSeverity keeps all.
	Types       []EventType
	MinSeverity Severity
	Categories  []string
	// Settings is the kind's sink configuration as JSON, without secrets.
	Settings json.RawMessage
	// Secrets is the ciphertext (instance keyring, IntegrationSecretsAD) of a
	// JSON object of the kind's secret fields; empty when none is set.
	Secrets   string
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string
}

// Validate checks the fields the store relies on (settings are checked by
// the kind's sink).
func (i *Integration) Validate() error {
	var fe []FieldError
	if !ValidName(i.Name) {
		fe = append(fe, FieldError{"name", fmt.Sprintf("%s, got %q", nameRule, i.Name)})
	}
	if !i.Kind.Valid() {
		fe = append(fe, FieldError{"kind", fmt.Sprintf("must be one of %s, got %q", IntegrationKindList(), i.Kind)})
	}
	for n, t := range i.Types {
		if !slices.Contains(EventTypes, t) {
			fe = append(fe, FieldError{fmt.Sprintf("types[%d]", n), fmt.Sprintf("unknown event type %q", t)})
		}
	}
	if i.MinSeverity != "" && !i.MinSeverity.Valid() {
		fe = append(fe, FieldError{"min_severity", fmt.Sprintf("unknown severity %q", i.MinSeverity)})
	}
	for n, c := range i.Categories {
		if c == "" || len(c) > 64 || ContainsControl(c) {
			fe = append(fe, FieldError{fmt.Sprintf("categories[%d]", n), "must be 1 to 64 characters without control characters"})
		}
	}
	if len(i.Settings) > 0 && !json.Valid(i.Settings) {
		fe = append(fe, FieldError{"settings", "must be a JSON object"})
	}
	return ValidationError(fe)
}

// IntegrationStore keeps integrations. Update and Delete fail with
// CodeNotFound for an unknown id; Update fails with CodeConflict when the
// stored UpdatedAt is no longer ifUpdatedAt. Create and Update fail with
// CodeConflict when the name is taken.
type IntegrationStore interface {
	CreateIntegration(ctx context.Context, i *Integration) error // sets ID, CreatedAt, UpdatedAt
	GetIntegration(ctx context.Context, id int64) (*Integration, error)
	ListIntegrations(ctx context.Context) ([]*Integration, error) // ordered by name
	UpdateIntegration(ctx context.Context, i *Integration, ifUpdatedAt time.Time) error
	DeleteIntegration(ctx context.Context, id int64) error
}
