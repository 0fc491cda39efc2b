package bulwark

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// MCPTransport is how Bulwark reaches an MCP server.
type MCPTransport string

// MCP upstream transports.
const (
	MCPStdio          MCPTransport = "stdio"           // a process Bulwark spawns
	MCPStreamableHTTP MCPTransport = "streamable_http" // the current HTTP transport
	MCPSSE            MCPTransport = "sse"             // the legacy HTTP+SSE transport
	MCPWebSocket      MCPTransport = "websocket"
)

// MCPTransports lists every upstream transport.
var MCPTransports = []MCPTransport{MCPStdio, MCPStreamableHTTP, MCPSSE, MCPWebSocket}

// Valid reports whether t is a known transport.
func (t MCPTransport) Valid() bool { return contains(MCPTransports, t) }

// MCPConfig is the MCP-specific part of a proxy of type mcp.
type MCPConfig struct {
	Transport MCPTransport `json:"transport"`
	// Command, Args, Env and Dir start a stdio server. Command must be an
	// absolute path or a name on the operator's allow-list.
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	// ProcessPerSession starts one stdio process per client session instead
	// of one shared by the proxy.
	ProcessPerSession bool `json:"process_per_session,omitempty"`
	// RescanSeconds is how often the server's tools are listed again to
	// catch changes between client sessions (0: the default; -1: never).
	RescanSeconds int `json:"rescan_seconds,omitempty"`
	// AutoApprove approves new tools without an operator (for trusted,
	// in-house servers). Changed tools are still quarantined.
	AutoApprove bool `json:"auto_approve,omitempty"`
}

// Validate checks the MCP settings of a proxy whose upstream URL is
// upstreamURL (unused by stdio servers).
func (c *MCPConfig) Validate(upstreamURL string) []FieldError {
	var fe []FieldError
	add := func(field, format string, args ...any) {
		fe = append(fe, FieldError{"mcp." + field, fmt.Sprintf(format, args...)})
	}
	if !c.Transport.Valid() {
		add("transport", "must be one of %s, got %q", joinValues(MCPTransports), c.Transport)
	}
	if c.Transport == MCPStdio {
		if strings.TrimSpace(c.Command) == "" {
			add("command", "is required for a stdio server (for example /usr/bin/node or npx)")
		} else if ContainsControl(c.Command) || strings.ContainsAny(c.Command, " \t") && !filepath.IsAbs(c.Command) {
			add("command", "must be one program (an absolute path or a name on the allow-list); put its arguments in args")
		}
		for k := range c.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				add("env", "variable name %q is not valid", k)
			}
		}
	} else if c.Command != "" || len(c.Args) > 0 {
		add("command", "applies to stdio servers only")
	}
	for i, a := range c.Args {
		if strings.ContainsRune(a, 0) {
			add(fmt.Sprintf("args[%d]", i), "must not contain NUL")
		}
	}
	if c.RescanSeconds < -1 || c.RescanSeconds > 7*24*3600 {
		add("rescan_seconds", "must be -1 (never), 0 (default) or up to one week")
	}
	return fe
}

// ToolStatus is where a tool stands in the approval workflow.
type ToolStatus string

// Tool statuses. Only approved tools are offered to clients and callable.
const (
	ToolPending     ToolStatus = "pending"     // new: waits for an operator
	ToolApproved    ToolStatus = "approved"    // pinned by its hash
	ToolDenied      ToolStatus = "denied"      // an operator refused it
	ToolQuarantined ToolStatus = "quarantined" // its definition changed after approval
)

// ToolKind is what an MCP server offers.
type ToolKind string

// Kinds of MCP capabilities under approval.
const (
	KindTool     ToolKind = "tool"
	KindPrompt   ToolKind = "prompt"
	KindResource ToolKind = "resource"
)

// MCPTool is a tool (or prompt, or resource) of an MCP server as Bulwark
// knows it: its definition as last seen, the approved (pinned) definition,
// its scan findings and its approval state.
type MCPTool struct {
	ID    int64
	Proxy string
	Kind  ToolKind
	Name  string
	// Definition is the canonical JSON of the definition as last seen, and
	// Hash its SHA-256 (hex).
	Definition json.RawMessage
	Hash       string
	Status     ToolStatus
	// PinnedDefinition and PinnedHash are what an operator approved; empty
	// when the tool was never approved.
	PinnedDefinition json.RawMessage
	PinnedHash       string
	// Findings of the tool-poisoning scan of the definition as last seen.
	Findings []Finding
	// Removed is set when the server no longer lists the tool.
	Removed bool
	// Groups that may call it (empty: every group that may use the proxy).
	Groups []string
	// CallsPerMinute limits calls across all clients (0: unlimited).
	CallsPerMinute int
	Calls          int64
	BlockedCalls   int64
	FirstSeen      time.Time
	LastSeen       time.Time
	DecidedBy      string
	DecidedAt      *time.Time
	UpdatedAt      time.Time
}

// Callable reports whether clients may see and call the tool.
func (t *MCPTool) Callable() bool {
	return t.Status == ToolApproved && !t.Removed && t.Hash == t.PinnedHash
}

// AllowsGroup reports whether a client of group may call the tool.
func (t *MCPTool) AllowsGroup(group string) bool {
	if len(t.Groups) == 0 {
		return true
	}
	for _, g := range t.Groups {
		if g == group || g == "*" {
			return true
		}
	}
	return false
}

// MCPToolStore keeps MCP tool definitions and their approval state. Tools
// are unique by (proxy, kind, name). Updates are optimistic on UpdatedAt.
type MCPToolStore interface {
	CreateMCPTool(ctx context.Context, t *MCPTool) error // sets ID, UpdatedAt
	GetMCPTool(ctx context.Context, id int64) (*MCPTool, error)
	// ListMCPTools lists a proxy's tools (all proxies when proxy is ""), by kind and name.
	ListMCPTools(ctx context.Context, proxy string) ([]*MCPTool, error)
	UpdateMCPTool(ctx context.Context, t *MCPTool, ifUpdatedAt time.Time) error
	// AddMCPToolCalls adds call and blocked-call counts (batched off the request path).
	AddMCPToolCalls(ctx context.Context, counts map[int64][2]int64) error
	// DeleteMCPTools removes every tool of a proxy (when the proxy is deleted).
	DeleteMCPTools(ctx context.Context, proxy string) error
}
