// Package teams posts events to Microsoft Teams through a Workflows (Power
// Automate) "When a Teams webhook request is received" trigger: one
// message per event carrying an Adaptive Card 1.4 with a severity-coloured
// title, the alert's facts and its (already masked) evidence, kept under
// Teams' message size limit.
package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Limits. Teams refuses messages over about 28 KB; the card is cut well
// inside that.
const (
	MaxMessage  = 28000
	maxTitle    = 200
	maxSubject  = 2000
	maxFact     = 500
	maxEvidence = 2000
)

// Config is one Teams integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// WebhookURL is the workflow's HTTP trigger URL; its sig parameter is a
	// credential, so the whole URL is a secret.
	WebhookURL string `json:"webhook_url" help:"HTTP URL of the Workflows trigger When a Teams webhook request is received."`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	TLS     wire.TLS      `json:"tls"`
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if err := wire.ValidateURL("webhook_url", c.WebhookURL); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

type teams struct {
	cfg    Config
	client *http.Client
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("teams %q: %w", cfg.Name, err)
	}
	c, err := wire.NewClient(cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &teams{cfg: cfg, client: c}, nil
}

func (t *teams) Name() string { return t.cfg.Name }

// MaxBatch is 1: one card per event.
func (t *teams) MaxBatch() int { return 1 }

func (t *teams) Deliver(ctx context.Context, evs []bulwark.Event) error {
	for i := range evs {
		body, err := encode(Message(&evs[i]))
		if err != nil {
			return &events.DeliveryError{Permanent: true, Err: err}
		}
		resp, err := wire.Post(ctx, t.client, t.cfg.WebhookURL, http.Header{"Content-Type": {"application/json"}}, body)
		if err != nil {
			return err
		}
		if err := resp.Failure(detail(resp.Body)); err != nil {
			return err
		}
	}
	return nil
}

// detail renders a Logic Apps / Power Automate error {"error":{"code","message"}}.
func detail(b []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
		return ""
	}
	return wire.Excerpt(e.Error.Code+": "+e.Error.Message, 300)
}

// Element is an Adaptive Card body element (TextBlock or FactSet).
type Element struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	FontType string `json:"fontType,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
	Facts    []Fact `json:"facts,omitempty"`
}

// Fact is one title/value pair of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Card is an Adaptive Card.
type Card struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []Element      `json:"body"`
	MSTeams map[string]any `json:"msteams,omitempty"`
}

// Attachment wraps the card.
type Attachment struct {
	ContentType string `json:"contentType"`
	ContentURL  any    `json:"contentUrl"`
	Content     Card   `json:"content"`
}

// Payload is the body the Workflows trigger expects.
type Payload struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// colours are Adaptive Card TextBlock colours by severity.
var colours = map[bulwark.Severity]string{
	bulwark.SeverityCritical: "Attention", bulwark.SeverityHigh: "Attention", bulwark.SeverityMedium: "Warning",
	bulwark.SeverityLow: "Accent", bulwark.SeverityInfo: "Default",
}

// Message builds the Teams payload for ev, within MaxMessage bytes.
func Message(ev *bulwark.Event) Payload {
	var data map[string]any
	_ = json.Unmarshal(ev.Data, &data)
	str := func(keys ...string) string {
		for _, k := range keys {
			switch v := data[k].(type) {
			case string:
				if v != "" {
					return v
				}
			case nil:
			default:
				b, _ := json.Marshal(v)
				return string(b)
			}
		}
		return ""
	}
	title := str("title")
	if title == "" {
		title = ev.Subject
	}
	if title == "" {
		title = ev.Action
	}
	colour := colours[ev.Severity]
	if colour == "" {
		colour = "Default"
	}
	var facts []Fact
	add := func(label, v string) {
		if v = oneLine(v); v != "" {
			facts = append(facts, Fact{Title: label, Value: escape(wire.Excerpt(v, maxFact))})
		}
	}
	add("Severity", strings.ToUpper(string(ev.Severity)))
	add("Category", ev.Category)
	add("Action", str("action", "status"))
	user := str("user", "username", "email")
	if user == "" {
		user = ev.Actor
	}
	add("User", user)
	target := str("proxy")
	if t := str("target", "tool", "model"); t != "" {
		target = strings.TrimPrefix(target+" → "+t, " → ")
	}
	add("Proxy / target", target)
	add("Source IP", str("source_ip", "ip", "remote_addr"))
	add("Policy / rule", strings.TrimPrefix(str("policy")+" / "+str("rule_id"), " / "))
	add("Event", ev.Action)
	add("Time", ev.Time.UTC().Format("2006-01-02 15:04:05 MST"))
	add("Event id", ev.ID)

	head := Element{Type: "TextBlock", Text: "[" + strings.ToUpper(string(ev.Severity)) + "] " + escape(wire.Excerpt(oneLine(title), maxTitle)),
		Size: "Large", Weight: "Bolder", Color: colour, Wrap: true}
	build := func(evidence string, subjectMax, factMax int) Payload {
		body := []Element{head}
		if ev.Subject != "" && ev.Subject != title {
			body = append(body, Element{Type: "TextBlock", Text: escape(wire.Excerpt(ev.Subject, subjectMax)), Wrap: true})
		}
		if len(facts) > 0 {
			fs := make([]Fact, len(facts))
			for i, f := range facts {
				fs[i] = Fact{Title: f.Title, Value: wire.Excerpt(f.Value, factMax)}
			}
			body = append(body, Element{Type: "FactSet", Facts: fs})
		}
		if evidence != "" {
			body = append(body,
				Element{Type: "TextBlock", Text: "Evidence", Weight: "Bolder", Spacing: "Medium"},
				Element{Type: "TextBlock", Text: escape(evidence), FontType: "Monospace", Wrap: true})
		}
		return Payload{Type: "message", Attachments: []Attachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content: Card{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4",
				Body: body, MSTeams: map[string]any{"width": "Full"}},
		}}}
	}
	evidence := wire.Excerpt(str("evidence", "diff"), maxEvidence)
	p := build(evidence, maxSubject, maxFact)
	// Escaping and JSON quoting can grow text; shrink until it fits.
	for _, step := range []struct {
		evidence            string
		subjectMax, factMax int
	}{{wire.Excerpt(evidence, 500), maxSubject, maxFact}, {"", 500, maxFact}, {"", 100, 100}} {
		if b, _ := encode(p); len(b) <= MaxMessage {
			return p
		}
		p = build(step.evidence, step.subjectMax, step.factMax)
	}
	return p
}

// encode is the JSON body, without HTML escaping (Teams does not need it
// and it triples the size of "<").
func encode(p Payload) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// escape keeps user text from being read as Adaptive Card markdown (bold,
// italic, links): evidence quoting a prompt must not become a link in the
// channel.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`).Replace(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
