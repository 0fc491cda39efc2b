package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/inspect/toolguard"
	"github.com/danielgtaylor/huma/v2"
)

// MCPTool is a tool, prompt or resource of an MCP proxy's server and its
// approval state.
type MCPTool struct {
	ID             int64             `json:"id"`
	Proxy          string            `json:"proxy"`
	Kind           string            `json:"kind" enum:"tool,prompt,resource"`
	Name           string            `json:"name" doc:"The tool or prompt name, or the resource's uri (uriTemplate for templates)"`
	Title          string            `json:"title,omitempty" doc:"From the definition as last seen"`
	Description    string            `json:"description,omitempty" doc:"From the definition as last seen"`
	Status         string            `json:"status" enum:"pending,approved,denied,quarantined"`
	Removed        bool              `json:"removed" doc:"The server no longer lists it"`
	Callable       bool              `json:"callable" doc:"Clients may see and call it: approved, listed and with the pinned definition"`
	Hash           string            `json:"hash" doc:"SHA-256 of the canonical definition as last seen"`
	PinnedHash     string            `json:"pinned_hash" doc:"SHA-256 of the approved definition; empty when never approved"`
	Changed        bool              `json:"changed" doc:"The definition differs from the approved one"`
	Findings       []bulwark.Finding `json:"findings" doc:"Tool-poisoning scan of the definition as last seen"`
	Groups         []string          `json:"groups" doc:"Groups that may call it; empty: every group that may use the proxy"`
	CallsPerMinute int               `json:"calls_per_minute" doc:"Calls per minute across all clients; 0: unlimited"`
	Calls          int64             `json:"calls"`
	BlockedCalls   int64             `json:"blocked_calls"`
	FirstSeen      time.Time         `json:"first_seen"`
	LastSeen       time.Time         `json:"last_seen"`
	DecidedBy      string            `json:"decided_by,omitempty" doc:"Who approved or denied it (auto-approve for the proxy's auto_approve)"`
	DecidedAt      *time.Time        `json:"decided_at,omitempty"`
	UpdatedAt      time.Time         `json:"updated_at" doc:"Version of the tool; send it back with PUT to refuse overwriting someone else's change"`
}

// MCPToolRisk is how a tool contributes to the lethal trifecta.
type MCPToolRisk struct {
	Private   bool     `json:"private_data"`
	Untrusted bool     `json:"untrusted_content"`
	Exfil     bool     `json:"exfiltration"`
	Why       []string `json:"why"`
}

// MCPToolDetail is one tool with its definitions.
type MCPToolDetail struct {
	MCPTool
	Definition       json.RawMessage `json:"definition" doc:"The canonical definition as last seen"`
	PinnedDefinition json.RawMessage `json:"pinned_definition,omitempty" doc:"The approved definition; absent when never approved"`
	Diff             string          `json:"diff,omitempty" doc:"Unified line diff from the pinned to the current definition, when they differ"`
	Risk             *MCPToolRisk    `json:"risk,omitempty" doc:"The tool's legs of the lethal trifecta (tools only)"`
}

// MCPTrifecta is the lethal-trifecta check of a proxy's callable tools.
type MCPTrifecta struct {
	Warning   bool                `json:"warning" doc:"The callable tools can read private data, take in untrusted content and send data out"`
	Message   string              `json:"message"`
	Private   []string            `json:"private"`
	Untrusted []string            `json:"untrusted"`
	Exfil     []string            `json:"exfil"`
	Why       map[string][]string `json:"why" doc:"Reasons per tool name"`
}

// MCPToolCounts counts a proxy's tools; removed tools count only as removed.
type MCPToolCounts struct {
	Pending     int `json:"pending"`
	Approved    int `json:"approved"`
	Quarantined int `json:"quarantined"`
	Denied      int `json:"denied"`
	Removed     int `json:"removed"`
}

type mcpToolListOutput struct {
	Body mcpToolList
}

type mcpToolList struct {
	Items    []MCPTool     `json:"items"`
	Total    int           `json:"total"`
	Counts   MCPToolCounts `json:"counts"`
	Trifecta MCPTrifecta   `json:"trifecta"`
}

type mcpToolOutput struct {
	Body MCPToolDetail
}

type mcpToolIDInput struct {
	Name string `path:"name" maxLength:"63" doc:"Proxy name"`
	ID   int64  `path:"id" minimum:"1" doc:"Tool id"`
}

type mcpToolApproveInput struct {
	Name string `path:"name" maxLength:"63" doc:"Proxy name"`
	ID   int64  `path:"id" minimum:"1" doc:"Tool id"`
	Body *MCPToolApproval
}

// MCPToolApproval is the optional body of an approval.
type MCPToolApproval struct {
	Hash string `json:"hash,omitempty" maxLength:"64" doc:"The hash of the definition you reviewed; refused with 409 when the definition changed since"`
}

// MCPToolRef names one tool of a bulk approval with the hash of the
// definition the operator reviewed.
type MCPToolRef struct {
	ID   int64  `json:"id" minimum:"1"`
	Hash string `json:"hash" minLength:"1" maxLength:"64" doc:"The hash of the definition you reviewed"`
}

// MCPToolBulkApproval is the body of a bulk approval.
type MCPToolBulkApproval struct {
	Tools []MCPToolRef `json:"tools" minItems:"1" maxItems:"1000" doc:"The tools to approve, each with the hash of the definition you reviewed"`
}

type mcpToolDenyInput struct {
	Name string `path:"name" maxLength:"63" doc:"Proxy name"`
	ID   int64  `path:"id" minimum:"1" doc:"Tool id"`
}

type mcpToolUpdateInput struct {
	Name string `path:"name" maxLength:"63" doc:"Proxy name"`
	ID   int64  `path:"id" minimum:"1" doc:"Tool id"`
	Body struct {
		Groups         []string   `json:"groups,omitempty" maxItems:"256" doc:"Groups that may call the tool (\"*\" or empty: every group that may use the proxy)"`
		CallsPerMinute int        `json:"calls_per_minute,omitempty" minimum:"0" maximum:"1000000" doc:"Calls per minute across all clients; 0: unlimited"`
		UpdatedAt      *time.Time `json:"updated_at,omitempty" doc:"updated_at from GET; the update is refused with 409 when the tool changed since"`
	}
}

type mcpToolBulkApproveInput struct {
	Name string `path:"name" maxLength:"63" doc:"Proxy name"`
	Body MCPToolBulkApproval
}

// mcpTools returns the MCP tool store, or a 503.
func (s *Server) mcpTools() (bulwark.MCPToolStore, error) {
	if s.o.MCPTools == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "MCP tools are not available on this server"}
	}
	return s.o.MCPTools, nil
}

// definitionText reads the title and description of a definition.
func definitionText(def json.RawMessage) (title, description string) {
	var d struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	_ = json.Unmarshal(def, &d)
	return d.Title, d.Description
}

func toMCPTool(t *bulwark.MCPTool) MCPTool {
	title, desc := definitionText(t.Definition)
	findings := t.Findings
	if findings == nil {
		findings = []bulwark.Finding{}
	}
	return MCPTool{
		ID: t.ID, Proxy: t.Proxy, Kind: string(t.Kind), Name: t.Name, Title: title, Description: desc, Status: string(t.Status),
		Removed: t.Removed, Callable: t.Callable(), Hash: t.Hash, PinnedHash: t.PinnedHash,
		Changed: t.PinnedHash != "" && t.Hash != t.PinnedHash, Findings: findings, Groups: nonNil(t.Groups),
		CallsPerMinute: t.CallsPerMinute, Calls: t.Calls, BlockedCalls: t.BlockedCalls, FirstSeen: t.FirstSeen, LastSeen: t.LastSeen,
		DecidedBy: t.DecidedBy, DecidedAt: t.DecidedAt, UpdatedAt: t.UpdatedAt,
	}
}

func toMCPToolDetail(t *bulwark.MCPTool) MCPToolDetail {
	d := MCPToolDetail{MCPTool: toMCPTool(t), Definition: t.Definition, PinnedDefinition: t.PinnedDefinition}
	if len(d.Definition) == 0 {
		d.Definition = json.RawMessage("{}")
	}
	if len(t.PinnedDefinition) > 0 && t.PinnedHash != t.Hash {
		d.Diff = toolguard.Diff(t.PinnedDefinition, t.Definition)
	}
	if t.Kind == bulwark.KindTool {
		r := toolguard.Classify(t.Definition)
		d.Risk = &MCPToolRisk{Private: r.Private, Untrusted: r.Untrusted, Exfil: r.Exfil, Why: nonNil(r.Why)}
	}
	return d
}

func toMCPTrifecta(a toolguard.Assessment) MCPTrifecta {
	why := a.Why
	if why == nil {
		why = map[string][]string{}
	}
	return MCPTrifecta{Warning: a.Warning, Message: a.Message, Private: nonNil(a.Private), Untrusted: nonNil(a.Untrusted),
		Exfil: nonNil(a.Exfil), Why: why}
}

// proxyTools lists the tools of a stored proxy (404 when the proxy is not).
func (s *Server) proxyTools(ctx context.Context, proxy string) (*mcpToolListOutput, error) {
	st, err := s.gatewayStore()
	if err != nil {
		return nil, err
	}
	ts, err := s.mcpTools()
	if err != nil {
		return nil, err
	}
	if _, err := st.GetProxy(ctx, proxy); err != nil {
		return nil, err
	}
	list, err := ts.ListMCPTools(ctx, proxy)
	if err != nil {
		return nil, err
	}
	out := &mcpToolListOutput{Body: mcpToolList{Items: make([]MCPTool, 0, len(list)), Total: len(list)}}
	c := &out.Body.Counts
	for _, t := range list {
		out.Body.Items = append(out.Body.Items, toMCPTool(t))
		switch {
		case t.Removed:
			c.Removed++
		case t.Status == bulwark.ToolPending:
			c.Pending++
		case t.Status == bulwark.ToolApproved:
			c.Approved++
		case t.Status == bulwark.ToolQuarantined:
			c.Quarantined++
		case t.Status == bulwark.ToolDenied:
			c.Denied++
		}
	}
	out.Body.Trifecta = toMCPTrifecta(toolguard.Trifecta(list))
	return out, nil
}

// proxyTool returns the tool with id of the named proxy; a tool of another
// proxy is not found.
func (s *Server) proxyTool(ctx context.Context, proxy string, id int64) (*bulwark.MCPTool, error) {
	ts, err := s.mcpTools()
	if err != nil {
		return nil, err
	}
	t, err := ts.GetMCPTool(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Proxy != proxy {
		return nil, &bulwark.Error{Code: bulwark.CodeNotFound, Message: fmt.Sprintf("proxy %q has no MCP tool %d", proxy, id)}
	}
	return t, nil
}

// mcpToolAuditDetails describes a tool for the audit log.
func mcpToolAuditDetails(t *bulwark.MCPTool, prev bulwark.ToolStatus) map[string]any {
	return map[string]any{"proxy": t.Proxy, "kind": t.Kind, "name": t.Name, "hash": t.Hash, "status": t.Status,
		"previous_status": prev, "findings": len(t.Findings)}
}

// decideRetries bounds the re-reads when the relay updates a tool (its
// last-seen time, a new definition) between the read and the write.
const decideRetries = 3

// decide applies change to the tool with id of proxy, re-reading it when
// it was updated meanwhile. check runs on every read and refuses the change
// by returning an error. It returns the tool as stored and its status before.
func (s *Server) decide(ctx context.Context, proxy string, id int64, check func(*bulwark.MCPTool) error,
	change func(*bulwark.MCPTool)) (*bulwark.MCPTool, bulwark.ToolStatus, error) {
	ts, err := s.mcpTools()
	if err != nil {
		return nil, "", err
	}
	for attempt := 1; ; attempt++ {
		t, err := s.proxyTool(ctx, proxy, id)
		if err != nil {
			return nil, "", err
		}
		if err := check(t); err != nil {
			return nil, "", err
		}
		prev, version := t.Status, t.UpdatedAt
		change(t)
		err = ts.UpdateMCPTool(ctx, t, version)
		if err == nil {
			return t, prev, nil
		}
		if bulwark.ErrorCodeOf(err) != bulwark.CodeConflict || attempt == decideRetries {
			return nil, "", err
		}
	}
}

// checkHash refuses an approval of a definition other than the one reviewed.
func checkHash(hash string) func(*bulwark.MCPTool) error {
	return func(t *bulwark.MCPTool) error {
		if hash != "" && !strings.EqualFold(hash, t.Hash) {
			return &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf(
				"the definition of %s %q changed since you reviewed it (hash %s, now %s); reload it and review the new definition",
				t.Kind, t.Name, short(hash), short(t.Hash))}
		}
		return nil
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func noCheck(*bulwark.MCPTool) error { return nil }

func (s *Server) mcpToolRoutes() {
	tags := []string{"MCP tools"}
	base := "/proxies/{name}/mcp-tools"

	register(s, huma.Operation{
		OperationID: "mcp_tools.list", Method: http.MethodGet, Path: base, Tags: tags, Summary: "List an MCP proxy's tools",
		Description: "The tools, prompts and resources the proxy's MCP server listed, with their approval state, scan findings and call " +
			"counters, ordered by kind and name; counts by status (removed tools count only as removed); and the lethal-trifecta check " +
			"of the tools clients can call.",
		Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *proxyNameInput) (*mcpToolListOutput, error) {
		return s.proxyTools(ctx, in.Name)
	})

	register(s, huma.Operation{
		OperationID: "mcp_tools.get", Method: http.MethodGet, Path: base + "/{id}", Tags: tags, Summary: "Show an MCP tool",
		Description: "The tool with its canonical definition as last seen, the approved (pinned) definition, the diff between the two " +
			"when they differ, and its legs of the lethal trifecta.",
		Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *mcpToolIDInput) (*mcpToolOutput, error) {
		t, err := s.proxyTool(ctx, in.Name, in.ID)
		if err != nil {
			return nil, err
		}
		return &mcpToolOutput{Body: toMCPToolDetail(t)}, nil
	})

	register(s, huma.Operation{
		OperationID: "mcp_tools.approve", Method: http.MethodPost, Path: base + "/{id}/approve", Tags: tags, Summary: "Approve an MCP tool",
		Description: "Approves the tool and pins its current definition by its hash (re-approving a quarantined tool is the same step). " +
			"Send the hash of the definition you reviewed: when the definition changed since, the approval is refused with 409. " +
			"Audited as mcp_tool.approve.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *mcpToolApproveInput) (*mcpToolOutput, error) {
		hash := ""
		if in.Body != nil {
			hash = in.Body.Hash
		}
		t, prev, err := s.decide(ctx, in.Name, in.ID, checkHash(hash), func(t *bulwark.MCPTool) {
			toolguard.Approve(t, pr.User.Username, s.now())
		})
		if err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "mcp_tool.approve", "mcp_tool", fmt.Sprint(t.ID), bulwark.ResultSuccess,
			mcpToolAuditDetails(t, prev))
		s.mcpToolsChanged(ctx, in.Name)
		return &mcpToolOutput{Body: toMCPToolDetail(t)}, nil
	})

	register(s, huma.Operation{
		OperationID: "mcp_tools.deny", Method: http.MethodPost, Path: base + "/{id}/deny", Tags: tags, Summary: "Deny an MCP tool",
		Description: "Refuses the tool: clients no longer see or call it. Its pinned definition, if any, is kept for the record; " +
			"a later approval pins the definition current then. Audited as mcp_tool.deny.",
		Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *mcpToolDenyInput) (*mcpToolOutput, error) {
		t, prev, err := s.decide(ctx, in.Name, in.ID, noCheck, func(t *bulwark.MCPTool) {
			toolguard.Deny(t, pr.User.Username, s.now())
		})
		if err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "mcp_tool.deny", "mcp_tool", fmt.Sprint(t.ID), bulwark.ResultSuccess,
			mcpToolAuditDetails(t, prev))
		s.mcpToolsChanged(ctx, in.Name)
		return &mcpToolOutput{Body: toMCPToolDetail(t)}, nil
	})

	register(s, huma.Operation{
		OperationID: "mcp_tools.update", Method: http.MethodPut, Path: base + "/{id}", Tags: tags, Summary: "Change an MCP tool's access",
		Description: "Sets the groups that may call the tool and its calls-per-minute limit. Send updated_at from GET to refuse the " +
			"update (409) when the tool changed meanwhile. Audited as mcp_tool.update with the changed fields.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *mcpToolUpdateInput) (*mcpToolOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		ts, err := s.mcpTools()
		if err != nil {
			return nil, err
		}
		b := &in.Body
		var fe []bulwark.FieldError
		seen := map[string]bool{}
		for i, g := range b.Groups {
			switch {
			case g != "*" && !bulwark.ValidName(g):
				fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("groups[%d]", i), Message: fmt.Sprintf("%q is not a valid group name", g)})
			case seen[g]:
				fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("groups[%d]", i), Message: fmt.Sprintf("group %q is listed twice", g)})
			}
			seen[g] = true
		}
		if len(b.Groups) > 0 {
			groups, err := st.ListGroups(ctx)
			if err != nil {
				return nil, err
			}
			known := make(map[string]bool, len(groups))
			for _, g := range groups {
				known[g.Name] = true
			}
			fe = append(fe, checkNames("groups", "group", b.Groups, known, true)...)
		}
		if err := bulwark.ValidationError(fe); err != nil {
			return nil, err
		}
		old, err := s.proxyTool(ctx, in.Name, in.ID)
		if err != nil {
			return nil, err
		}
		if b.UpdatedAt != nil && !b.UpdatedAt.Equal(old.UpdatedAt) {
			return nil, staleVersion(string(old.Kind), fmt.Sprintf("%q", old.Name), old.DecidedBy)
		}
		t := *old
		t.Groups, t.CallsPerMinute = nonNil(b.Groups), b.CallsPerMinute
		if err := ts.UpdateMCPTool(ctx, &t, old.UpdatedAt); err != nil {
			if bulwark.ErrorCodeOf(err) == bulwark.CodeConflict {
				return nil, staleVersion(string(old.Kind), fmt.Sprintf("%q", old.Name), "")
			}
			return nil, err
		}
		details := mcpToolAuditDetails(&t, old.Status)
		details["groups"], details["calls_per_minute"] = t.Groups, t.CallsPerMinute
		details["changed"] = changedFields(sameList("groups", nonNil(old.Groups), t.Groups), same("calls_per_minute", old.CallsPerMinute, t.CallsPerMinute))
		s.audit(ctx, pr.User.Username, pr.User.ID, "mcp_tool.update", "mcp_tool", fmt.Sprint(t.ID), bulwark.ResultSuccess, details)
		s.mcpToolsChanged(ctx, in.Name)
		return &mcpToolOutput{Body: toMCPToolDetail(&t)}, nil
	})

	register(s, huma.Operation{
		OperationID: "mcp_tools.approve_many", Method: http.MethodPost, Path: base + "/approve", Tags: tags, Summary: "Approve several MCP tools",
		Description: "Approves several tools of the proxy at once, each with the hash of the definition you reviewed. Every tool is checked " +
			"first: when one is not the proxy's (404) or its definition changed since (409), none is approved. Returns the proxy's tools " +
			"like GET. Audited as one mcp_tool.approve per tool.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *mcpToolBulkApproveInput) (*mcpToolListOutput, error) {
		seen := map[int64]bool{}
		for i, item := range in.Body.Tools {
			if seen[item.ID] {
				return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: fmt.Sprintf("tools[%d].id", i), Message: fmt.Sprintf("tool %d is listed twice", item.ID)}})
			}
			seen[item.ID] = true
		}
		for _, item := range in.Body.Tools {
			t, err := s.proxyTool(ctx, in.Name, item.ID)
			if err != nil {
				return nil, err
			}
			if err := checkHash(item.Hash)(t); err != nil {
				return nil, err
			}
		}
		approved := 0
		var failed error
		for _, item := range in.Body.Tools {
			t, prev, err := s.decide(ctx, in.Name, item.ID, checkHash(item.Hash), func(t *bulwark.MCPTool) {
				toolguard.Approve(t, pr.User.Username, s.now())
			})
			if err != nil {
				failed = err
				break
			}
			approved++
			s.audit(ctx, pr.User.Username, pr.User.ID, "mcp_tool.approve", "mcp_tool", fmt.Sprint(t.ID), bulwark.ResultSuccess,
				mcpToolAuditDetails(t, prev))
		}
		if approved > 0 {
			s.mcpToolsChanged(ctx, in.Name)
		}
		if failed != nil {
			return nil, failed
		}
		return s.proxyTools(ctx, in.Name)
	})
}
