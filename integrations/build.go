// Package integrations turns stored integrations (bulwark.Integration) into
// running sinks: it maps settings and decrypted secrets onto each sink's
// Config, and its Manager keeps the dispatcher's sinks and the bus's routes
// in step with the store.
package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/elastic"
	"github.com/bulwarkhq/bulwark/events/sink/email"
	"github.com/bulwarkhq/bulwark/events/sink/pagerduty"
	"github.com/bulwarkhq/bulwark/events/sink/siemhttp"
	"github.com/bulwarkhq/bulwark/events/sink/slack"
	"github.com/bulwarkhq/bulwark/events/sink/splunk"
	"github.com/bulwarkhq/bulwark/events/sink/syslog"
	"github.com/bulwarkhq/bulwark/events/sink/teams"
	"github.com/bulwarkhq/bulwark/events/sink/webhook"
)

// kind is what Build needs to know about one integration kind. Adding a
// kind is one entry here plus its constant in the root package.
type kind struct {
	// secrets are the Config fields kept encrypted in Integration.Secrets
	// instead of Settings.
	secrets []string
	// listSecrets are secret fields holding a list, sent as one string
	// separated by commas or white space.
	listSecrets []string
	// tails: the kind follows the request log instead of receiving events
	// (tail.go), so it has no route and no outbox rows.
	tails bool
	// build decodes the merged settings and secrets strictly, validates
	// them and returns the sink; it also knows the Config type (Describe).
	build constructor
}

// constructor is what builder returns: the sink's Config type, for
// Describe, and the function building the sink.
type constructor struct {
	config reflect.Type
	fn     func(raw []byte) (events.Sink, error)
}

var kinds = map[bulwark.IntegrationKind]kind{
	bulwark.IntegrationWebhook:   {secrets: []string{"secrets", "secret_headers"}, listSecrets: []string{"secrets"}, build: builder(webhook.New)},
	bulwark.IntegrationSlack:     {secrets: []string{"webhook_url"}, build: builder(slack.New)},
	bulwark.IntegrationSplunk:    {secrets: []string{"token"}, build: builder(splunk.New)},
	bulwark.IntegrationElastic:   {secrets: []string{"api_key", "password"}, build: builder(elastic.New)},
	bulwark.IntegrationPagerDuty: {secrets: []string{"routing_key"}, build: builder(pagerduty.New)},
	bulwark.IntegrationTeams:     {secrets: []string{"webhook_url"}, build: builder(teams.New)},
	bulwark.IntegrationEmail:     {secrets: []string{"password"}, build: builder(email.New)},
	bulwark.IntegrationSyslog:    {build: builder(syslog.New)}, // no secrets: syslog has no sender credentials
	bulwark.IntegrationSIEMHTTP:  {secrets: []string{"password", "secret_headers"}, build: builder(siemhttp.New)},
	// Langfuse follows the request log instead of receiving events (tail.go).
	bulwark.IntegrationLangfuse: {secrets: []string{"secret_key"}, tails: true, build: langfuseTail},
}

// RouteOf is the route of i's filters: which events it receives.
func RouteOf(i *bulwark.Integration) events.Route {
	return events.Route{Sink: i.Name, Types: slices.Clone(i.Types), MinSeverity: i.MinSeverity, Categories: slices.Clone(i.Categories)}
}

// StoredRoutes are the routes of the enabled integrations that receive
// events through the outbox (not those following the request log), for a
// process that publishes events without running the integrations (a CLI
// command): a running server delivers what it queues. Integrations are
// not built here, so one whose settings are broken still gets its rows,
// delivered once it is fixed.
func StoredRoutes(ctx context.Context, s bulwark.IntegrationStore) ([]events.Route, error) {
	list, err := s.ListIntegrations(ctx)
	if err != nil {
		return nil, fmt.Errorf("load integrations: %w", err)
	}
	var routes []events.Route
	for _, i := range list {
		if i.Enabled && kinds[i.Kind].build.fn != nil && !kinds[i.Kind].tails {
			routes = append(routes, RouteOf(i))
		}
	}
	return routes, nil
}

// validating is a pointer to a sink Config.
type validating[C any] interface {
	*C
	Validate() error
}

// builder adapts a sink's New(Config) to kind.build: strict decoding, then
// Validate, then New.
func builder[C any, P validating[C]](newSink func(C) (events.Sink, error)) constructor {
	return constructor{config: reflect.TypeFor[C](), fn: func(raw []byte) (events.Sink, error) {
		var c C
		if err := decode(raw, &c); err != nil {
			return nil, err
		}
		if err := P(&c).Validate(); err != nil {
			return nil, err
		}
		return newSink(c)
	}}
}

// SecretFields returns the names of the secret fields of kind. The webhook
// field "secrets" holds one or more whsec_ keys separated by commas or
// white space (newest first during rotation).
func SecretFields(k bulwark.IntegrationKind) []string {
	return slices.Clone(kinds[k].secrets)
}

// Build maps i's settings and secrets onto its kind's sink Config, validates
// it and returns the sink with i's route. The error of an invalid
// configuration is a bulwark validation error naming the field
// (settings.<field> or secrets.<field>).
func Build(i *bulwark.Integration, secrets map[string]string) (events.Sink, events.Route, error) {
	route := RouteOf(i)
	fields := map[string]any{}
	if len(i.Settings) > 0 {
		if err := json.Unmarshal(i.Settings, &fields); err != nil || fields == nil {
			return nil, route, fieldError("settings", "must be a JSON object")
		}
	}
	k, ok := kinds[i.Kind]
	if !ok {
		return nil, route, fieldError("kind", fmt.Sprintf("must be one of %s, got %q", bulwark.IntegrationKindList(), i.Kind))
	}
	secretNames := k.secrets
	for _, name := range secretNames {
		if _, ok := fields[name]; ok {
			return nil, route, fieldError("settings."+name, "is a secret: send it in secrets, not settings")
		}
	}
	for name := range secrets {
		if !slices.Contains(secretNames, name) {
			return nil, route, fieldError("secrets."+name, fmt.Sprintf("is not a secret field of %s integrations (secret fields: %s)", i.Kind, strings.Join(secretNames, ", ")))
		}
	}
	if _, ok := fields["name"]; ok {
		return nil, route, fieldError("settings.name", "is the integration's name; set it outside settings")
	}
	fields["name"] = i.Name
	for name, v := range secrets {
		if slices.Contains(k.listSecrets, name) {
			fields[name] = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
			continue
		}
		fields[name] = v
	}
	raw, _ := json.Marshal(fields)
	s, err := k.build.fn(raw)
	if err != nil {
		if bulwark.ErrorCodeOf(err) == bulwark.CodeUnprocessable {
			return nil, route, err
		}
		return nil, route, fieldError(fieldOf(err.Error(), secretNames), err.Error())
	}
	return s, route, nil
}

// decode reads a Config strictly: an unknown field is an error naming it.
func decode(raw []byte, c any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return fieldError("settings."+strings.Trim(f, `"`), "is not a setting of this kind")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fieldError("settings."+te.Field, fmt.Sprintf("must be %s, got %s", te.Type, te.Value))
		}
		return fieldError("settings", msg)
	}
	return nil
}

// fieldOf names the field a sink's Validate message starts with ("token is
// required" → secrets.token; "url must be …" → settings.url).
func fieldOf(msg string, secretNames []string) string {
	first, _, _ := strings.Cut(msg, " ")
	first = strings.Trim(first, ":,")
	if first == "" {
		return "settings"
	}
	base, _, _ := strings.Cut(first, "[")
	if slices.Contains(secretNames, base) {
		return "secrets." + first
	}
	return "settings." + first
}

func fieldError(field, msg string) error {
	return bulwark.ValidationError([]bulwark.FieldError{{Field: field, Message: msg}})
}
