package api

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// ProxyStatus is a proxy's state in the running gateway.
type ProxyStatus struct {
	State  string     `json:"state" enum:"running,stopped,error,unknown" doc:"unknown when the gateway does not run on this server"`
	Reason string     `json:"reason,omitempty" doc:"Why the proxy is stopped or in error"`
	Since  *time.Time `json:"since,omitempty"`
	Addr   string     `json:"addr,omitempty" doc:"The listener's address, or the mount path /p/{name}/ on the main port"`
}

// ProxyStats are a proxy's counters since the gateway started.
type ProxyStats struct {
	Requests     int64   `json:"requests"`
	Blocked      int64   `json:"blocked"`
	Errors       int64   `json:"errors"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
}

// Proxy is a gateway proxy as the API shows it. The upstream credential is
// never returned, only whether one is set.
type Proxy struct {
	ID             int64       `json:"id"`
	Name           string      `json:"name"`
	Description    string      `json:"description"`
	Type           string      `json:"type" enum:"llm,mcp,a2a"`
	Provider       string      `json:"provider,omitempty" enum:"openai,anthropic,azure,"`
	UpstreamURL    string      `json:"upstream_url"`
	ListenAddr     string      `json:"listen_addr" doc:"host:port of its own listener; empty: mounted at /p/{name}/ on the main port"`
	Policies       []string    `json:"policies"`
	CredentialSet  bool        `json:"credential_set" doc:"An upstream credential is stored (it is never shown)"`
	Tags           []string    `json:"tags"`
	Enabled        bool        `json:"enabled" doc:"Desired state: the gateway runs the proxy when true"`
	AutoStart      bool        `json:"auto_start"`
	TimeoutSeconds int         `json:"timeout_seconds" doc:"0: the default"`
	MaxBodyBytes   int64       `json:"max_body_bytes" doc:"0: the default"`
	ScanResponses  bool        `json:"scan_responses"`
	MCP            *MCPInfo    `json:"mcp,omitempty" doc:"MCP server settings (mcp proxies only)"`
	CreatedAt      time.Time   `json:"created_at"`
	UpdatedAt      time.Time   `json:"updated_at" doc:"Version of the proxy; send it back with PUT to refuse overwriting someone else's change"`
	UpdatedBy      string      `json:"updated_by,omitempty"`
	Status         ProxyStatus `json:"status"`
	Stats          ProxyStats  `json:"stats"`
}

// ProxyDetail is one proxy with its most recent requests.
type ProxyDetail struct {
	Proxy
	Recent []RequestRecord `json:"recent" doc:"The last 20 requests through the proxy, newest first"`
}

// ProxySettings are the settable fields shared by create and update.
type ProxySettings struct {
	Description    string       `json:"description,omitempty" maxLength:"1024"`
	Type           string       `json:"type,omitempty" enum:"llm,mcp,a2a" doc:"Default llm"`
	Provider       string       `json:"provider,omitempty" enum:"openai,anthropic,azure" doc:"API family of the upstream; required for llm proxies"`
	UpstreamURL    string       `json:"upstream_url,omitempty" maxLength:"2048" doc:"Absolute http(s) URL without credentials, query or fragment, e.g. https://api.openai.com; empty for a stdio MCP server"`
	ListenAddr     string       `json:"listen_addr,omitempty" maxLength:"256" doc:"host:port of its own listener; empty: mounted at /p/{name}/ on the main port"`
	Policies       []string     `json:"policies,omitempty" maxItems:"32" doc:"Detection policies (built-in or custom) applied in order"`
	Credential     *string      `json:"credential,omitempty" nullable:"true" maxLength:"8192" doc:"Upstream provider credential (write-only, stored encrypted). On update: omitted or null keeps the stored one, \"\" removes it"`
	Tags           []string     `json:"tags,omitempty" maxItems:"32"`
	Enabled        *bool        `json:"enabled,omitempty" doc:"Run the proxy (default true on create; kept when omitted on update)"`
	AutoStart      *bool        `json:"auto_start,omitempty" doc:"Start the proxy when Bulwark starts (default true on create; kept when omitted on update). When false, a restart leaves it stopped until an operator starts it"`
	TimeoutSeconds int          `json:"timeout_seconds,omitempty" minimum:"0" maximum:"3600" doc:"Bound on one upstream exchange; 0: the default"`
	MaxBodyBytes   int64        `json:"max_body_bytes,omitempty" minimum:"0" doc:"Bound on a request body; 0: the default"`
	ScanResponses  *bool        `json:"scan_responses,omitempty" doc:"Inspect upstream answers too (default true on create; kept when omitted on update)"`
	MCP            *MCPSettings `json:"mcp,omitempty" doc:"MCP server settings; required for mcp proxies, refused for others"`
}

// MCPSettings are the settable MCP server settings of an mcp proxy.
type MCPSettings struct {
	Transport         string            `json:"transport" enum:"stdio,streamable_http,sse,websocket" doc:"How Bulwark reaches the server: a process it spawns (stdio) or an HTTP or WebSocket URL (upstream_url)"`
	Command           string            `json:"command,omitempty" maxLength:"4096" doc:"stdio: the program, an absolute path or a name on the operator's allow-list"`
	Args              []string          `json:"args,omitempty" maxItems:"256" doc:"stdio: the program's arguments"`
	Env               map[string]string `json:"env,omitempty" doc:"stdio: extra environment variables. Write-only (values may be secrets; responses show env_names). On update: omitted keeps the stored variables; given, it replaces them, and a variable whose value is \"\" keeps its stored value"`
	Dir               string            `json:"dir,omitempty" maxLength:"4096" doc:"stdio: working directory"`
	ProcessPerSession bool              `json:"process_per_session,omitempty" doc:"stdio: one process per client session instead of one shared by the proxy"`
	RescanSeconds     int               `json:"rescan_seconds,omitempty" minimum:"-1" maximum:"604800" doc:"How often the server's tools are listed again between sessions; 0: the default (15 minutes), -1: never"`
	AutoApprove       bool              `json:"auto_approve,omitempty" doc:"Approve and pin tools the first time they are seen unless their scan has a blocking finding; changed tools are still quarantined. For trusted servers only"`
}

// MCPInfo is the MCP server settings of an mcp proxy as the API shows
// them: the environment's variable names, never their values.
type MCPInfo struct {
	Transport         string   `json:"transport" enum:"stdio,streamable_http,sse,websocket"`
	Command           string   `json:"command,omitempty"`
	Args              []string `json:"args"`
	EnvNames          []string `json:"env_names" doc:"Names of the environment variables set for a stdio server (values are write-only)"`
	Dir               string   `json:"dir,omitempty"`
	ProcessPerSession bool     `json:"process_per_session"`
	RescanSeconds     int      `json:"rescan_seconds"`
	AutoApprove       bool     `json:"auto_approve"`
}

func toMCPInfo(c *bulwark.MCPConfig) *MCPInfo {
	if c == nil {
		return nil
	}
	return &MCPInfo{Transport: string(c.Transport), Command: c.Command, Args: nonNil(c.Args), EnvNames: envNames(c.Env), Dir: c.Dir,
		ProcessPerSession: c.ProcessPerSession, RescanSeconds: c.RescanSeconds, AutoApprove: c.AutoApprove}
}

func envNames(env map[string]string) []string {
	names := slices.Sorted(maps.Keys(env))
	return nonNil(names)
}

// mcpFromSettings builds the MCP settings of a proxy from the request; old
// is the stored settings (nil on create), whose environment values are
// kept when env is omitted or a value is "".
func mcpFromSettings(m *MCPSettings, old *bulwark.MCPConfig) *bulwark.MCPConfig {
	if m == nil {
		return nil
	}
	c := &bulwark.MCPConfig{Transport: bulwark.MCPTransport(m.Transport), Command: m.Command, Args: m.Args, Dir: m.Dir,
		ProcessPerSession: m.ProcessPerSession, RescanSeconds: m.RescanSeconds, AutoApprove: m.AutoApprove}
	switch {
	case m.Env == nil && old != nil:
		c.Env = maps.Clone(old.Env)
	case m.Env != nil:
		c.Env = make(map[string]string, len(m.Env))
		for k, v := range m.Env {
			if v == "" && old != nil {
				if prev, ok := old.Env[k]; ok {
					v = prev
				}
			}
			c.Env[k] = v
		}
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	return c
}

// mcpAuditDetails describes MCP settings for the audit log: never env values.
func mcpAuditDetails(c *bulwark.MCPConfig) map[string]any {
	if c == nil {
		return nil
	}
	return map[string]any{"transport": c.Transport, "command": c.Command, "args": nonNil(c.Args), "env_names": envNames(c.Env),
		"dir": c.Dir, "process_per_session": c.ProcessPerSession, "rescan_seconds": c.RescanSeconds, "auto_approve": c.AutoApprove}
}

// sameMCP reports whether two MCP settings are equal (env values included).
func sameMCP(a, b *bulwark.MCPConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Transport == b.Transport && a.Command == b.Command && slices.Equal(a.Args, b.Args) && maps.Equal(a.Env, b.Env) &&
		a.Dir == b.Dir && a.ProcessPerSession == b.ProcessPerSession && a.RescanSeconds == b.RescanSeconds && a.AutoApprove == b.AutoApprove
}

type proxyCreateInput struct {
	Body struct {
		Name string `json:"name" maxLength:"63" doc:"Unique name: lower-case letters, digits and inner hyphens; also the mount path /p/{name}/"`
		ProxySettings
	}
}

type proxyUpdateInput struct {
	Name string `path:"name" maxLength:"63"`
	Body struct {
		Name      string     `json:"name,omitempty" maxLength:"63" doc:"Must be the name in the path when given (proxies cannot be renamed)"`
		UpdatedAt *time.Time `json:"updated_at,omitempty" doc:"updated_at from GET; the update is refused with 409 when the proxy changed since"`
		ProxySettings
	}
}

type proxyNameInput struct {
	Name string `path:"name" maxLength:"63" doc:"Proxy name"`
}

type proxyListOutput struct {
	Body struct {
		Items []Proxy `json:"items"`
		Total int     `json:"total"`
	}
}

type proxyOutput struct {
	Body ProxyDetail
}

// recentRequests is how many requests GET /proxies/{name} shows.
const recentRequests = 20

func (s *Server) toProxy(p *bulwark.Proxy) Proxy {
	out := Proxy{
		ID: p.ID, Name: p.Name, Description: p.Description, Type: string(p.Type), Provider: string(p.Provider),
		UpstreamURL: p.UpstreamURL, ListenAddr: p.ListenAddr, Policies: nonNil(p.Policies), CredentialSet: p.Credential != "",
		Tags: nonNil(p.Tags), Enabled: p.Enabled, AutoStart: p.AutoStart, TimeoutSeconds: p.TimeoutSeconds,
		MaxBodyBytes: p.MaxBodyBytes, ScanResponses: p.ScanResponses, MCP: toMCPInfo(p.MCP), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy,
	}
	if s.o.Gateway == nil {
		out.Status = ProxyStatus{State: "unknown", Reason: "the gateway does not run on this server"}
		return out
	}
	if st, ok := s.o.Gateway.Status(p.Name); ok {
		out.Status = ProxyStatus{State: st.State, Reason: st.Reason, Since: timePtr(st.Since), Addr: st.Addr}
	} else {
		out.Status = ProxyStatus{State: "stopped", Reason: "not started"}
		if !p.Enabled {
			out.Status.Reason = "disabled"
		}
	}
	ps := s.o.Gateway.Stats(p.Name)
	out.Stats = ProxyStats{Requests: ps.Requests, Blocked: ps.Blocked, Errors: ps.Errors, InputTokens: ps.InputTokens,
		OutputTokens: ps.OutputTokens, CostUSD: ps.CostUSD, P50Ms: ps.P50Ms, P99Ms: ps.P99Ms}
	return out
}

func (s *Server) proxyDetail(ctx context.Context, p *bulwark.Proxy) (*proxyOutput, error) {
	out := &proxyOutput{Body: ProxyDetail{Proxy: s.toProxy(p), Recent: []RequestRecord{}}}
	var recs []bulwark.RequestRecord
	if s.o.Gateway != nil {
		recs = s.o.Gateway.Recent(p.Name, recentRequests)
	} else if s.o.GatewayStore != nil {
		page, err := s.o.GatewayStore.ListRequests(ctx, bulwark.RequestFilter{Proxy: p.Name, Limit: recentRequests})
		if err != nil {
			return nil, err
		}
		recs = page.Items
	}
	for i := range recs {
		out.Body.Recent = append(out.Body.Recent, toRequestRecord(&recs[i]))
	}
	return out, nil
}

// proxyFromFields fills the settable fields of p from f. The credential,
// Enabled and ScanResponses are left to the caller. The MCP environment
// values of p (the stored proxy on update) are kept where f omits them.
func proxyFromFields(p *bulwark.Proxy, f *ProxySettings) {
	p.MCP = mcpFromSettings(f.MCP, p.MCP)
	p.Description, p.Type, p.Provider = f.Description, bulwark.Protocol(orDefault(f.Type, string(bulwark.ProtocolLLM))), bulwark.Provider(f.Provider)
	p.UpstreamURL, p.ListenAddr, p.Policies, p.Tags = f.UpstreamURL, f.ListenAddr, nonNil(f.Policies), nonNil(f.Tags)
	p.TimeoutSeconds, p.MaxBodyBytes = f.TimeoutSeconds, f.MaxBodyBytes
	switch {
	case f.AutoStart != nil:
		p.AutoStart = *f.AutoStart
	case p.ID == 0:
		p.AutoStart = true // a new proxy starts with Bulwark unless told otherwise
	}
}

// sealCredential encrypts a credential for storage.
func (s *Server) sealCredential(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if bulwark.ContainsControl(plain) {
		return "", bulwark.ValidationError([]bulwark.FieldError{{Field: "credential", Message: "must not contain control characters"}})
	}
	if s.o.Keyring == nil {
		return "", &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "credential encryption is not configured on this server"}
	}
	return s.o.Keyring.EncryptString(plain, credentialAD)
}

// storeProxy validates p, checks that its policies exist and stores it
// with write, holding the policy lock so a policy cannot be deleted between
// the check and the write.
func (s *Server) storeProxy(ctx context.Context, p *bulwark.Proxy, write func() error) error {
	fe, err := fieldErrors(p.Validate())
	if err != nil {
		return err
	}
	s.pol.mutation.Lock()
	defer s.pol.mutation.Unlock()
	reg, _, err := s.registry(ctx)
	if err != nil {
		return err
	}
	for i, n := range p.Policies {
		if !bulwark.ValidPolicyName(n) {
			continue // reported by Validate
		}
		if _, ok := reg.Get(n); !ok {
			fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("policies[%d]", i), Message: fmt.Sprintf("no policy named %q (see GET /api/v1/policies)", n)})
		}
	}
	if err := bulwark.ValidationError(fe); err != nil {
		return err
	}
	return write()
}

// proxyAuditDetails describes a proxy for the audit log: never the credential.
func proxyAuditDetails(p *bulwark.Proxy) map[string]any {
	d := map[string]any{
		"type": p.Type, "provider": p.Provider, "upstream_url": p.UpstreamURL, "listen_addr": p.ListenAddr,
		"policies": nonNil(p.Policies), "enabled": p.Enabled, "credential_set": p.Credential != "",
	}
	if p.MCP != nil {
		d["mcp"] = mcpAuditDetails(p.MCP)
	}
	return d
}

func (s *Server) proxyRoutes() {
	tags := []string{"Proxies"}

	register(s, huma.Operation{
		OperationID: "proxies.list", Method: http.MethodGet, Path: "/proxies", Tags: tags, Summary: "List proxies",
		Description: "Every proxy, ordered by name, with its state in the running gateway and its counters since the gateway started.",
	}, viewer, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*proxyListOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		list, err := st.ListProxies(ctx)
		if err != nil {
			return nil, err
		}
		out := &proxyListOutput{}
		out.Body.Items = make([]Proxy, 0, len(list))
		for _, p := range list {
			out.Body.Items = append(out.Body.Items, s.toProxy(p))
		}
		out.Body.Total = len(list)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "proxies.get", Method: http.MethodGet, Path: "/proxies/{name}", Tags: tags, Summary: "Show a proxy",
		Description: "The proxy with its status, its counters and its last 20 requests.",
		Errors:      []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *proxyNameInput) (*proxyOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		p, err := st.GetProxy(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		return s.proxyDetail(ctx, p)
	})

	register(s, huma.Operation{
		OperationID: "proxies.create", Method: http.MethodPost, Path: "/proxies", Tags: tags, Summary: "Create a proxy",
		Description: "Stores a proxy and starts it when enabled (the default). The credential is encrypted at rest and never returned; " +
			"the policies must exist. Audited as proxy.create.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *proxyCreateInput) (*proxyOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		b := &in.Body
		p := &bulwark.Proxy{Name: b.Name, Enabled: true, ScanResponses: true, UpdatedBy: pr.User.Username}
		proxyFromFields(p, &b.ProxySettings)
		if b.Enabled != nil {
			p.Enabled = *b.Enabled
		}
		if b.ScanResponses != nil {
			p.ScanResponses = *b.ScanResponses
		}
		if b.Credential != nil {
			if p.Credential, err = s.sealCredential(*b.Credential); err != nil {
				return nil, err
			}
		}
		if err := s.storeProxy(ctx, p, func() error { return st.CreateProxy(ctx, p) }); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "proxy.create", "proxy", p.Name, bulwark.ResultSuccess, proxyAuditDetails(p))
		s.reloadProxy(ctx, p.Name)
		return s.proxyDetail(ctx, p)
	})

	register(s, huma.Operation{
		OperationID: "proxies.update", Method: http.MethodPut, Path: "/proxies/{name}", Tags: tags, Summary: "Replace a proxy",
		Description: "Replaces every field of the proxy; enabled, scan_responses and credential keep their stored values when omitted " +
			"(credential \"\" removes it). Send updated_at from GET to refuse the update (409) when someone changed the proxy meanwhile. " +
			"The running proxy is reloaded without dropping requests in flight. Audited as proxy.update with the changed fields.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *proxyUpdateInput) (*proxyOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		old, err := st.GetProxy(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		b := &in.Body
		if b.Name != "" && b.Name != in.Name {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "name", Message: fmt.Sprintf("must be %q, the proxy being updated (proxies cannot be renamed: create a new one)", in.Name)}})
		}
		if b.UpdatedAt != nil && !b.UpdatedAt.Equal(old.UpdatedAt) {
			return nil, staleVersion("proxy", fmt.Sprintf("%q", in.Name), old.UpdatedBy)
		}
		p := *old
		p.UpdatedBy = pr.User.Username
		proxyFromFields(&p, &b.ProxySettings)
		if b.Enabled != nil {
			p.Enabled = *b.Enabled
		}
		if b.ScanResponses != nil {
			p.ScanResponses = *b.ScanResponses
		}
		credChanged := false
		if b.Credential != nil {
			if p.Credential, err = s.sealCredential(*b.Credential); err != nil {
				return nil, err
			}
			credChanged = *b.Credential != "" || old.Credential != ""
		}
		if err := s.storeProxy(ctx, &p, func() error { return st.UpdateProxy(ctx, &p, old.UpdatedAt) }); err != nil {
			return nil, err
		}
		changed := changedFields(
			same("description", old.Description, p.Description), same("type", old.Type, p.Type),
			same("provider", old.Provider, p.Provider), same("upstream_url", old.UpstreamURL, p.UpstreamURL),
			same("listen_addr", old.ListenAddr, p.ListenAddr), sameList("policies", old.Policies, p.Policies),
			fieldPair{"credential", !credChanged}, sameList("tags", old.Tags, p.Tags), same("enabled", old.Enabled, p.Enabled),
			same("auto_start", old.AutoStart, p.AutoStart), same("timeout_seconds", old.TimeoutSeconds, p.TimeoutSeconds),
			same("max_body_bytes", old.MaxBodyBytes, p.MaxBodyBytes), same("scan_responses", old.ScanResponses, p.ScanResponses),
			fieldPair{"mcp", sameMCP(old.MCP, p.MCP)},
		)
		details := proxyAuditDetails(&p)
		details["changed"] = changed
		s.audit(ctx, pr.User.Username, pr.User.ID, "proxy.update", "proxy", p.Name, bulwark.ResultSuccess, details)
		s.reloadProxy(ctx, p.Name)
		return s.proxyDetail(ctx, &p)
	})

	register(s, huma.Operation{
		OperationID: "proxies.delete", Method: http.MethodDelete, Path: "/proxies/{name}", Tags: tags, Summary: "Delete a proxy",
		Description:   "Stops the proxy (requests in flight finish) and deletes it; its request records stay. Audited as proxy.delete.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *proxyNameInput) (*struct{}, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		if err := st.DeleteProxy(ctx, in.Name); err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "proxy.delete", "proxy", in.Name, bulwark.ResultSuccess, nil)
		s.reloadProxy(ctx, in.Name)
		return nil, nil
	})

	lifecycle := []struct {
		verb, summary, desc string
		run                 func(ctx context.Context, gw Gateway, name, by string) (*bulwark.Proxy, error)
	}{
		{"start", "Start a proxy", "Sets the proxy enabled (the state survives restarts) and starts it.",
			func(ctx context.Context, gw Gateway, name, by string) (*bulwark.Proxy, error) {
				return gw.SetEnabled(ctx, name, true, by)
			}},
		{"stop", "Stop a proxy", "Sets the proxy disabled (the state survives restarts) and stops it; requests in flight finish.",
			func(ctx context.Context, gw Gateway, name, by string) (*bulwark.Proxy, error) {
				return gw.SetEnabled(ctx, name, false, by)
			}},
		{"restart", "Restart a proxy", "Stops the proxy and starts it with a freshly built handler and listener.",
			func(ctx context.Context, gw Gateway, name, _ string) (*bulwark.Proxy, error) {
				return gw.Restart(ctx, name)
			}},
	}
	for _, lc := range lifecycle {
		register(s, huma.Operation{
			OperationID: "proxies." + lc.verb, Method: http.MethodPost, Path: "/proxies/{name}/" + lc.verb, Tags: tags,
			Summary: lc.summary, Description: lc.desc + " Audited as proxy." + lc.verb + ".",
			Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
		}, operator, func(ctx context.Context, pr *auth.Principal, in *proxyNameInput) (*proxyOutput, error) {
			st, err := s.gatewayStore()
			if err != nil {
				return nil, err
			}
			gw, err := s.gateway()
			if err != nil {
				return nil, err
			}
			old, err := st.GetProxy(ctx, in.Name)
			if err != nil {
				return nil, err
			}
			p, err := lc.run(detached(ctx), gw, in.Name, pr.User.Username)
			if err != nil {
				return nil, err
			}
			s.audit(ctx, pr.User.Username, pr.User.ID, "proxy."+lc.verb, "proxy", in.Name, bulwark.ResultSuccess,
				map[string]any{"was_enabled": old.Enabled, "enabled": p.Enabled})
			return s.proxyDetail(ctx, p)
		})
	}
}
