package wire

import (
	"encoding/json"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
)

// Envelope is the documented JSON shape of one event, used as the webhook
// body and as the Splunk HEC "event" field (see docs/integrations.md).
type Envelope struct {
	ID       string          `json:"id"`
	Time     string          `json:"time"` // RFC 3339 UTC with fractional seconds
	Type     string          `json:"type"`
	Action   string          `json:"action"`
	Severity string          `json:"severity"`
	Category string          `json:"category,omitempty"`
	Actor    string          `json:"actor,omitempty"`
	Subject  string          `json:"subject"`
	Data     json.RawMessage `json:"data"`
}

// EnvelopeOf converts ev. Its data is always valid UTF-8 JSON (see
// events.CleanData: data that is not JSON is carried as a JSON string, so
// one bad event never breaks a batch); missing data is null.
func EnvelopeOf(ev *bulwark.Event) Envelope {
	data := json.RawMessage("null")
	if len(ev.Data) > 0 {
		data = events.CleanData(ev.Data)
	}
	return Envelope{
		ID: ev.ID, Time: ev.Time.UTC().Format(time.RFC3339Nano), Type: string(ev.Type), Action: ev.Action,
		Severity: string(ev.Severity), Category: ev.Category, Actor: ev.Actor, Subject: ev.Subject, Data: data,
	}
}
