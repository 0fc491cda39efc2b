// Package slack posts events to a Slack incoming webhook as Block Kit
// messages: a colour bar by severity, an emoji and header with the title,
// the alert's fields and its (already masked) evidence in a code block,
// kept within Slack's size limits.
package slack

import (
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

// Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	maxHeader    = 150
	maxSection   = 3000
	maxField     = 2000
	maxBlocks    = 50
	maxFields    = 10
	maxEvidence  = 1500 // runes of evidence shown; the rest is cut
	fallbackSize = 300
)

// Config is one Slack integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// WebhookURL is the incoming webhook URL (https://hooks.slack.com/services/…);
	// it is a secret.
	WebhookURL string `json:"webhook_url"`
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

type slack struct {
	cfg    Config
	client *http.Client
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("slack %q: %w", cfg.Name, err)
	}
	c, err := wire.NewClient(cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	return &slack{cfg: cfg, client: c}, nil
}

func (s *slack) Name() string { return s.cfg.Name }

// MaxBatch is 1: one Slack message per event.
func (s *slack) MaxBatch() int { return 1 }

func (s *slack) Deliver(ctx context.Context, evs []bulwark.Event) error {
	for i := range evs {
		body, err := json.Marshal(Message(&evs[i]))
		if err != nil {
			return &events.DeliveryError{Permanent: true, Err: err}
		}
		resp, err := wire.Post(ctx, s.client, s.cfg.WebhookURL, http.Header{"Content-Type": {"application/json"}}, body)
		if err != nil {
			return err
		}
		// Slack answers errors as a plain-text code ("invalid_blocks", "no_service").
		if err := resp.Failure(""); err != nil {
			return err
		}
	}
	return nil
}

type text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji *bool  `json:"emoji,omitempty"`
}

type block struct {
	Type     string `json:"type"`
	Text     *text  `json:"text,omitempty"`
	Fields   []text `json:"fields,omitempty"`
	Elements []text `json:"elements,omitempty"`
}

type attachment struct {
	Color  string  `json:"color"`
	Blocks []block `json:"blocks"`
}

type message struct {
	Text        string       `json:"text"`
	Attachments []attachment `json:"attachments"`
}

var colours = map[bulwark.Severity]string{
	bulwark.SeverityCritical: "#B42318", bulwark.SeverityHigh: "#F04438", bulwark.SeverityMedium: "#F79009",
	bulwark.SeverityLow: "#2E90FA", bulwark.SeverityInfo: "#98A2B3",
}

var emoji = map[bulwark.Severity]string{
	bulwark.SeverityCritical: ":rotating_light:", bulwark.SeverityHigh: ":red_circle:", bulwark.SeverityMedium: ":large_orange_circle:",
	bulwark.SeverityLow: ":large_blue_circle:", bulwark.SeverityInfo: ":information_source:",
}

// Message builds the Slack payload for ev (exported for the docs' example
// and tests).
func Message(ev *bulwark.Event) any {
	data := fields(ev)
	str := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := data[k]; ok && v != nil {
				if s, ok := v.(string); ok {
					if s != "" {
						return s
					}
					continue
				}
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
	e := emoji[ev.Severity]
	if e == "" {
		e = ":grey_question:"
	}
	yes := true
	blocks := []block{{Type: "header", Text: &text{Type: "plain_text", Text: wire.Excerpt(e+" "+oneLine(title), maxHeader), Emoji: &yes}}}
	if ev.Subject != "" && ev.Subject != title {
		blocks = append(blocks, block{Type: "section", Text: &text{Type: "mrkdwn", Text: wire.Excerpt(escape(ev.Subject), maxSection)}})
	}
	var fields []text
	add := func(label, v string) {
		if v == "" || len(fields) == maxFields {
			return
		}
		fields = append(fields, text{Type: "mrkdwn", Text: wire.Excerpt("*"+label+"*\n"+escape(oneLine(v)), maxField)})
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
	if len(fields) > 0 {
		blocks = append(blocks, block{Type: "section", Fields: fields})
	}
	if ev := str("evidence", "diff"); ev != "" {
		blocks = append(blocks, block{Type: "section", Text: &text{Type: "mrkdwn", Text: codeBlock(ev)}})
	}
	ctxText := "Bulwark · event `" + escape(ev.ID) + "`"
	if g := str("group"); g != "" {
		ctxText += " · group " + escape(g)
	}
	blocks = append(blocks, block{Type: "context", Elements: []text{{Type: "mrkdwn", Text: wire.Excerpt(ctxText, maxSection)}}})
	if len(blocks) > maxBlocks {
		blocks = blocks[:maxBlocks]
	}
	colour := colours[ev.Severity]
	if colour == "" {
		colour = colours[bulwark.SeverityInfo]
	}
	fallback := fmt.Sprintf("[%s] %s", strings.ToUpper(string(ev.Severity)), oneLine(title))
	return message{Text: wire.Excerpt(escape(fallback), fallbackSize), Attachments: []attachment{{Color: colour, Blocks: blocks}}}
}

// codeBlock fences s, cut to maxEvidence runes, with its backticks shown as
// U+02CB so the fence cannot be closed early.
func codeBlock(s string) string {
	s = strings.ReplaceAll(s, "`", "\u02cb")
	s = wire.Excerpt(escape(s), maxEvidence)
	return "```" + s + "```"
}

// escape applies Slack's mrkdwn escaping of &, < and >.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
