package siem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// TeamsElement is an Adaptive Card element this fake understands:
// TextBlock and FactSet.
type TeamsElement struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Text     string `json:"text,omitempty"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	FontType string `json:"fontType,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
	Facts    []struct {
		Title string `json:"title"`
		Value string `json:"value"`
	} `json:"facts,omitempty"`
}

// TeamsCard is an Adaptive Card.
type TeamsCard struct {
	Schema  string         `json:"$schema,omitempty"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []TeamsElement `json:"body"`
	MSTeams map[string]any `json:"msteams,omitempty"`
}

// TeamsMessage is the body a Teams Workflows webhook trigger takes.
type TeamsMessage struct {
	Type        string `json:"type"`
	Attachments []struct {
		ContentType string    `json:"contentType"`
		ContentURL  any       `json:"contentUrl"`
		Content     TeamsCard `json:"content"`
	} `json:"attachments"`
}

// TeamsMaxMessage is the size above which Teams refuses a message.
const TeamsMaxMessage = 28 << 10

// Teams is a Workflows (Power Automate) "When a Teams webhook request is
// received" trigger posting Adaptive Cards to a channel. The URL path and
// its sig query parameter are the credential. It checks the message shape
// (type message, adaptive-card attachments, card version 1.0–1.5, known
// TextBlock colours, sizes and weights, non-empty facts) and Teams' size
// limit, and answers like Logic Apps: 202 with no body, or
// {"error":{"code","message"}} with 400, 401, 404, 413, 429 or 500.
type Teams struct {
	faults
	path, sig string
	messages  []TeamsMessage
}

// NewTeams accepts POSTs to path with ?sig=<sig>.
func NewTeams(path, sig string) *Teams { return &Teams{faults: newFaults(), path: path, sig: sig} }

// Messages are the messages accepted, in order.
func (t *Teams) Messages() []TeamsMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]TeamsMessage(nil), t.messages...)
}

func teamsAnswer(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func teamsFault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		teamsAnswer(w, status, "TooManyRequests", "The workflow trigger is being throttled.")
	case http.StatusBadRequest:
		teamsAnswer(w, status, "InvalidRequestContent", "injected bad request")
	default:
		teamsAnswer(w, status, "InternalServerError", "injected server error")
	}
}

func (t *Teams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t.inject(w, r, teamsFault) {
		return
	}
	if r.URL.Path != t.path {
		t.reject("path " + r.URL.Path)
		teamsAnswer(w, http.StatusNotFound, "WorkflowNotFound", "The workflow could not be found.")
		return
	}
	if r.URL.Query().Get("sig") != t.sig {
		t.reject("bad sig")
		teamsAnswer(w, http.StatusUnauthorized, "DirectApiInvalidAuthorizationSignature", "The provided authentication token is not valid.")
		return
	}
	if r.Method != http.MethodPost {
		t.reject("method " + r.Method)
		teamsAnswer(w, http.StatusMethodNotAllowed, "InvalidRequestMethod", "POST is required")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.reject("content-type " + r.Header.Get("Content-Type"))
		teamsAnswer(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The request content type must be application/json.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	if len(body) > TeamsMaxMessage {
		t.reject("message of " + strconv.Itoa(len(body)) + " bytes")
		teamsAnswer(w, http.StatusRequestEntityTooLarge, "MessageSizeTooBig", "The message is larger than 28 KB.")
		return
	}
	msg, err := checkTeams(body)
	if err != nil {
		t.reject(err.Error())
		teamsAnswer(w, http.StatusBadRequest, "InvalidRequestContent", err.Error())
		return
	}
	t.mu.Lock()
	t.messages = append(t.messages, *msg)
	t.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

var (
	cardColours  = []string{"", "Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"}
	cardSizes    = []string{"", "Default", "Small", "Medium", "Large", "ExtraLarge"}
	cardWeights  = []string{"", "Default", "Lighter", "Bolder"}
	cardFonts    = []string{"", "Default", "Monospace"}
	cardSpacings = []string{"", "Default", "None", "Small", "Medium", "Large", "ExtraLarge", "Padding"}
)

func checkTeams(body []byte) (*TeamsMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m TeamsMessage
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	if m.Type != "message" {
		return nil, fmt.Errorf("type %q, want message", m.Type)
	}
	if len(m.Attachments) == 0 {
		return nil, fmt.Errorf("no attachments")
	}
	for i, a := range m.Attachments {
		if a.ContentType != "application/vnd.microsoft.card.adaptive" {
			return nil, fmt.Errorf("attachments[%d].contentType %q", i, a.ContentType)
		}
		c := a.Content
		if c.Type != "AdaptiveCard" {
			return nil, fmt.Errorf("attachments[%d].content.type %q, want AdaptiveCard", i, c.Type)
		}
		if !slices.Contains([]string{"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}, c.Version) {
			return nil, fmt.Errorf("card version %q is not one Teams renders (1.0–1.5)", c.Version)
		}
		if len(c.Body) == 0 {
			return nil, fmt.Errorf("card body is empty")
		}
		for j, e := range c.Body {
			where := fmt.Sprintf("body[%d]", j)
			switch e.Type {
			case "TextBlock":
				if strings.TrimSpace(e.Text) == "" {
					return nil, fmt.Errorf("%s: TextBlock without text", where)
				}
				if len(e.Facts) > 0 {
					return nil, fmt.Errorf("%s: TextBlock with facts", where)
				}
			case "FactSet":
				if len(e.Facts) == 0 || e.Text != "" {
					return nil, fmt.Errorf("%s: FactSet needs facts and no text", where)
				}
				for k, f := range e.Facts {
					if f.Title == "" || f.Value == "" {
						return nil, fmt.Errorf("%s.facts[%d]: title and value are required", where, k)
					}
				}
			default:
				return nil, fmt.Errorf("%s: element type %q not expected", where, e.Type)
			}
			if !slices.Contains(cardColours, e.Color) || !slices.Contains(cardSizes, e.Size) || !slices.Contains(cardWeights, e.Weight) ||
				!slices.Contains(cardFonts, e.FontType) || !slices.Contains(cardSpacings, e.Spacing) {
				return nil, fmt.Errorf("%s: unknown colour, size, weight, fontType or spacing", where)
			}
		}
	}
	return &m, nil
}
