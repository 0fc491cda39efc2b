package siem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// SlackText is a Block Kit text object.
type SlackText struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Emoji    *bool  `json:"emoji,omitempty"`
	Verbatim *bool  `json:"verbatim,omitempty"`
}

// SlackBlock is the subset of Block Kit layout blocks a message may use
// here: header, section, context and divider.
type SlackBlock struct {
	Type     string      `json:"type"`
	BlockID  string      `json:"block_id,omitempty"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackAttachment is a secondary attachment carrying blocks and the colour
// bar.
type SlackAttachment struct {
	Color    string       `json:"color,omitempty"`
	Fallback string       `json:"fallback,omitempty"`
	Blocks   []SlackBlock `json:"blocks"`
}

// SlackMessage is an incoming-webhook payload.
type SlackMessage struct {
	Text        string            `json:"text"`
	Blocks      []SlackBlock      `json:"blocks,omitempty"`
	Attachments []SlackAttachment `json:"attachments,omitempty"`
	UnfurlLinks *bool             `json:"unfurl_links,omitempty"`
	UnfurlMedia *bool             `json:"unfurl_media,omitempty"`
}

// Slack is a Slack incoming webhook. The secret is the URL path (as on
// hooks.slack.com); it answers like Slack: 200 "ok", 400
// "invalid_payload"/"invalid_blocks", 404 "no_service", 429 with
// Retry-After, 500.
type Slack struct {
	faults
	path     string
	messages []SlackMessage
}

// NewSlack accepts posts to path, e.g. "/services/T000/B000/XXXX".
func NewSlack(path string) *Slack { return &Slack{faults: newFaults(), path: path} }

// Messages are the messages accepted, in order.
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SlackMessage(nil), s.messages...)
}

func slackError(w http.ResponseWriter, status int) {
	body := map[int]string{429: "rate_limited", 500: "rollup_error", 400: "invalid_payload"}[status]
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (s *Slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.inject(w, r, slackError) {
		return
	}
	if r.URL.Path != s.path {
		s.reject("unknown webhook path " + r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no_service")
		return
	}
	msg, code, err := s.check(r)
	if err != nil {
		s.reject(err.Error())
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, code)
		return
	}
	s.mu.Lock()
	s.messages = append(s.messages, *msg)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

var hexColour = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

func (s *Slack) check(r *http.Request) (*SlackMessage, string, error) {
	if r.Method != http.MethodPost {
		return nil, "invalid_payload", fmt.Errorf("method %s, want POST", r.Method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, "invalid_payload", fmt.Errorf("content-type %q, want application/json", r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, "invalid_payload", err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m SlackMessage
	if err := dec.Decode(&m); err != nil {
		return nil, "invalid_payload", fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return nil, "invalid_payload", fmt.Errorf("trailing data after the JSON body")
	}
	if strings.TrimSpace(m.Text) == "" && len(m.Blocks) == 0 && len(m.Attachments) == 0 {
		return nil, "no_text", fmt.Errorf("message has no text, blocks or attachments")
	}
	if n := utf8.RuneCountInString(m.Text); n > 40000 {
		return nil, "msg_too_long", fmt.Errorf("text is %d characters", n)
	}
	if err := checkBlocks("blocks", m.Blocks); err != nil {
		return nil, "invalid_blocks", err
	}
	for i, a := range m.Attachments {
		if a.Color != "" && !hexColour.MatchString(a.Color) && a.Color != "good" && a.Color != "warning" && a.Color != "danger" {
			return nil, "invalid_attachments", fmt.Errorf("attachments[%d].color %q", i, a.Color)
		}
		if len(a.Blocks) == 0 {
			return nil, "invalid_attachments", fmt.Errorf("attachments[%d] has no blocks", i)
		}
		if err := checkBlocks(fmt.Sprintf("attachments[%d].blocks", i), a.Blocks); err != nil {
			return nil, "invalid_blocks", err
		}
	}
	return &m, "", nil
}

func checkBlocks(where string, blocks []SlackBlock) error {
	if len(blocks) > 50 {
		return fmt.Errorf("%s: %d blocks, Slack allows 50", where, len(blocks))
	}
	for i, b := range blocks {
		at := fmt.Sprintf("%s[%d] (%s)", where, i, b.Type)
		if len(b.BlockID) > 255 {
			return fmt.Errorf("%s: block_id longer than 255", at)
		}
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || len(b.Fields)+len(b.Elements) > 0 {
				return fmt.Errorf("%s: a header has exactly one plain_text text", at)
			}
			if err := checkText(at, *b.Text, 150); err != nil {
				return err
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 || len(b.Elements) > 0 {
				return fmt.Errorf("%s: a section needs text or fields and has no elements", at)
			}
			if b.Text != nil {
				if err := checkText(at+".text", *b.Text, 3000); err != nil {
					return err
				}
			}
			if len(b.Fields) > 10 {
				return fmt.Errorf("%s: %d fields, Slack allows 10", at, len(b.Fields))
			}
			for j, f := range b.Fields {
				if err := checkText(fmt.Sprintf("%s.fields[%d]", at, j), f, 2000); err != nil {
					return err
				}
			}
		case "context":
			if b.Text != nil || len(b.Fields) > 0 || len(b.Elements) == 0 || len(b.Elements) > 10 {
				return fmt.Errorf("%s: a context has 1 to 10 elements only", at)
			}
			for j, e := range b.Elements {
				if err := checkText(fmt.Sprintf("%s.elements[%d]", at, j), e, 3000); err != nil {
					return err
				}
			}
		case "divider":
			if b.Text != nil || len(b.Fields)+len(b.Elements) > 0 {
				return fmt.Errorf("%s: a divider has no content", at)
			}
		default:
			return fmt.Errorf("%s: unsupported block type", at)
		}
	}
	return nil
}

func checkText(at string, t SlackText, max int) error {
	if t.Type != "plain_text" && t.Type != "mrkdwn" {
		return fmt.Errorf("%s: text type %q", at, t.Type)
	}
	if t.Emoji != nil && t.Type != "plain_text" {
		return fmt.Errorf("%s: emoji is only for plain_text", at)
	}
	n := utf8.RuneCountInString(t.Text)
	if n == 0 || n > max {
		return fmt.Errorf("%s: text is %d characters, must be 1 to %d", at, n, max)
	}
	if t.Type == "mrkdwn" && strings.Count(t.Text, "```")%2 != 0 {
		return fmt.Errorf("%s: unbalanced ``` code block", at)
	}
	return nil
}
