// Package api owns the admin REST API under /api/v1: authentication of
// console users (session cookie + CSRF token, or bearer API token), role
// checks on every operation, the handlers, the one error shape, and the
// OpenAPI 3.1 description. It reaches the rest of the program only through
// the small interfaces declared here.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// Store is the storage the API reads and writes.
type Store interface {
	bulwark.UserStore
	bulwark.TokenStore
	bulwark.AuditStore
	bulwark.SettingStore
	DeleteUserSessions(ctx context.Context, userID int64, keepID string) error
	Ready(ctx context.Context) error
}

// Authenticator verifies credentials and manages sessions and tokens.
type Authenticator interface {
	Login(ctx context.Context, username, password string, ip netip.Addr, ua string, pol auth.Policy) (*bulwark.User, string, *bulwark.Session, error)
	SessionFromCookie(ctx context.Context, token string, idle time.Duration) (*auth.Principal, error)
	PrincipalFromToken(ctx context.Context, token string) (*auth.Principal, error)
	CSRFToken(sess *bulwark.Session) string
	CheckCSRF(sess *bulwark.Session, presented string) bool
	Logout(ctx context.Context, sess *bulwark.Session) error
	HashPassword(password, username string) (string, error)
	ChangePassword(ctx context.Context, u *bulwark.User, current, next, keepSession string) error
	SetPassword(ctx context.Context, u *bulwark.User, password string, mustChange bool, keepSession string) error
	CreateToken(ctx context.Context, userID int64, name string, expiresAt *time.Time) (string, *bulwark.APIToken, error)
	Now() time.Time
}

// Publisher records audit entries and events on the event path.
type Publisher interface {
	Audit(ctx context.Context, entry *bulwark.AuditEntry, ev bulwark.Event) (bulwark.Event, error)
}

// Metrics receives counters the API produces. All methods may be no-ops.
type Metrics interface {
	Login(result string)
	AuditError()
}

// Info describes the running build, for GET /system.
type Info struct {
	Version   string
	Commit    string
	GoVersion string
	Engine    string
	StartedAt time.Time
}

// Options configure the API server.
type Options struct {
	Store          Store
	Auth           Authenticator
	Events         Publisher
	Metrics        Metrics
	Log            *slog.Logger
	Info           Info
	SecureCookies  bool
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64
	// Dashboard aggregates events for GET /dashboard; when nil, Store is
	// used if it implements DashboardStore.
	Dashboard DashboardStore
	// Live is the event bus feeding GET /live; nil answers 503.
	Live LiveSource
	// LiveHeartbeat is the interval of keep-alive comments on /live (default 15 s).
	LiveHeartbeat time.Duration
	// Policies keeps custom detection policies; when nil, Store is used if
	// it implements bulwark.PolicyStore, else only built-ins are served.
	Policies bulwark.PolicyStore
	// Classifier is the learned detector for rule ML-PI-001 in policy tests.
	Classifier detect.Classifier
	// GatewayStore keeps proxies, groups, gateway keys, system prompts and
	// the request log; when nil, those endpoints answer 503.
	GatewayStore bulwark.GatewayStore
	// MCPTools keeps the tools of MCP proxies and their approval state; when
	// nil, GatewayStore is used if it implements bulwark.MCPToolStore, else
	// the MCP tool endpoints answer 503.
	MCPTools bulwark.MCPToolStore
	// Gateway is the running proxy supervisor, told about every change;
	// when nil, changes are only stored and start/stop/restart answer 503.
	Gateway Gateway
	// Keyring encrypts upstream credentials; when nil, a proxy cannot be
	// given a credential (503).
	Keyring Keyring
	// ValidateSystemPrompt checks a system prompt template (inspect/sysprompt.Parse);
	// when nil, only the template syntax is checked.
	ValidateSystemPrompt func(name, template string) error
	// Alerts keeps security alerts and their triage; when nil, the alert
	// endpoints answer 503.
	Alerts AlertStore
	// Integrations keeps the event destinations; when nil, Store is used if
	// it implements bulwark.IntegrationStore, else the integration
	// endpoints answer 503.
	Integrations bulwark.IntegrationStore
	// IntegrationRuntime runs the integrations, reloaded after every change;
	// when nil, changes are only stored, health says "unknown" and test
	// answers 503.
	IntegrationRuntime IntegrationRuntime
	// Deliveries lists and retries integrations' outbox rows; when nil,
	// Store is used if it implements bulwark.DeliveryStore, else the
	// delivery endpoints answer 503.
	Deliveries bulwark.DeliveryStore
}

// Server is the admin API.
type Server struct {
	o   Options
	api huma.API
	mux *http.ServeMux

	settingsMu   sync.Mutex
	settings     bulwark.Settings
	settingsRead time.Time

	liveStop chan struct{}
	liveOnce sync.Once

	pol policyState
}

// Cookie names. The session cookie is HttpOnly; the CSRF cookie is readable
// by the console's JavaScript, which echoes it in X-CSRF-Token.
const (
	SessionCookie = "bulwark_session"
	CSRFCookie    = "bulwark_csrf"
	CSRFHeader    = "X-CSRF-Token"
	Prefix        = "/api/v1"
	apiVersion    = "1.0.0"
)

// New builds the API and registers every operation.
func New(o Options) *Server {
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Dashboard == nil {
		o.Dashboard, _ = o.Store.(DashboardStore)
	}
	if o.Policies == nil {
		o.Policies, _ = o.Store.(bulwark.PolicyStore)
	}
	if o.Integrations == nil {
		o.Integrations, _ = o.Store.(bulwark.IntegrationStore)
	}
	if o.Deliveries == nil {
		o.Deliveries, _ = o.Store.(bulwark.DeliveryStore)
	}
	if o.MCPTools == nil {
		o.MCPTools, _ = o.GatewayStore.(bulwark.MCPToolStore)
	}
	s := &Server{o: o, mux: http.NewServeMux(), liveStop: make(chan struct{})}
	s.api = humago.NewWithPrefix(s.mux, Prefix, humaConfig())
	s.routes()
	return s
}

type nopMetrics struct{}

func (nopMetrics) Login(string) {}
func (nopMetrics) AuditError()  {}

func humaConfig() huma.Config {
	registry := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	return huma.Config{
		OpenAPI: &huma.OpenAPI{
			OpenAPI: "3.1.0",
			Info: &huma.Info{
				Title:       "Bulwark Admin API",
				Version:     apiVersion,
				Description: "Administration API of the Bulwark AI security gateway. Authenticate with the session cookie set by POST /auth/login (and send the X-CSRF-Token header on unsafe methods), or with a personal API token as `Authorization: Bearer bwk_…`. Every error has the body {\"error\":{\"code\",\"message\",\"details\"}}.",
				License:     &huma.License{Name: "Apache-2.0"},
			},
			Components: &huma.Components{
				Schemas: registry,
				SecuritySchemes: map[string]*huma.SecurityScheme{
					"bearer":  {Type: "http", Scheme: "bearer", Description: "Personal API token (bwk_…)"},
					"session": {Type: "apiKey", In: "cookie", Name: SessionCookie, Description: "Console session; unsafe methods also need the X-CSRF-Token header"},
				},
			},
		},
		OpenAPIPath:   "/openapi",
		Formats:       huma.DefaultFormats,
		DefaultFormat: "application/json",
	}
}

// OpenAPI returns the API description.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// Handler serves /api/v1/. Request metadata, authentication, CSRF and body
// limits run before huma; metrics are measured inside so the route pattern
// the mux matched is known.
func (s *Server) Handler(instrument func(http.Handler) http.Handler) http.Handler {
	var h http.Handler = http.HandlerFunc(s.serveMux)
	if instrument != nil {
		h = instrument(h)
	}
	h = s.authenticate(h)
	h = s.meta(h)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusForbidden, bulwark.CodeForbidden, "cross-origin request refused")
	}))
	return cop.Handler(h)
}

// serveMux routes to the operations; requests that match none get the
// JSON error shape instead of net/http's plain-text 404 and 405 pages.
func (s *Server) serveMux(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.mux.ServeHTTP(&unmatchedWriter{ResponseWriter: w, path: r.URL.Path, method: r.Method}, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// unmatchedWriter turns the mux's plain-text 404/405 into the error body,
// keeping the Allow header the mux sets for 405.
type unmatchedWriter struct {
	http.ResponseWriter
	path, method string
	wrote        bool
}

func (u *unmatchedWriter) WriteHeader(code int) {
	if u.wrote {
		return
	}
	u.wrote = true
	u.Header().Del("Content-Length")
	msg := "no API endpoint " + u.path + "; see /api/v1/openapi.json"
	if code == http.StatusMethodNotAllowed {
		msg = u.method + " is not allowed on " + u.path + "; allowed: " + u.Header().Get("Allow")
	}
	writeError(u.ResponseWriter, code, bulwark.ErrorCode(codeOfStatus(code)), msg)
}

func (u *unmatchedWriter) Write(b []byte) (int, error) {
	if !u.wrote {
		u.WriteHeader(http.StatusNotFound)
	}
	return len(b), nil
}

type ctxKey int

const (
	keyMeta ctxKey = iota
	keyPrincipal
)

// requestMeta is who is calling from where, for the audit log.
type requestMeta struct {
	IP        netip.Addr
	UserAgent string
}

func metaFrom(ctx context.Context) requestMeta {
	m, _ := ctx.Value(keyMeta).(requestMeta)
	return m
}

func principalFrom(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(keyPrincipal).(*auth.Principal)
	return p
}

func (s *Server) meta(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua := r.UserAgent()
		if len(ua) > 512 {
			ua = ua[:512]
		}
		m := requestMeta{IP: ClientIP(r, s.o.TrustedProxies), UserAgent: ua}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyMeta, m)))
	})
}

// ClientIP is the caller's address: the TCP peer, or, when the peer is a
// trusted reverse proxy, the right-most X-Forwarded-For entry that is not
// itself a trusted proxy.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	var peer netip.Addr
	if err == nil {
		peer = ap.Addr().Unmap()
	} else if host, _, herr := net.SplitHostPort(r.RemoteAddr); herr == nil {
		peer, _ = netip.ParseAddr(host)
	}
	if !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a
		}
	}
	return peer
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// authenticate attaches the principal. A bearer token that does not verify
// is refused at once; a stale session cookie just means "anonymous" so the
// login endpoint still works. Cookie-authenticated unsafe requests must carry
// the CSRF token (double submit, keyed to the session).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var p *auth.Principal
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, tok, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
				writeError(w, http.StatusUnauthorized, bulwark.CodeUnauthenticated, "Authorization must be \"Bearer <API token>\"")
				return
			}
			var err error
			if p, err = s.o.Auth.PrincipalFromToken(ctx, strings.TrimSpace(tok)); err != nil {
				s.writeAuthErr(w, err)
				return
			}
		} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			pol := s.Settings(ctx)
			p, err = s.o.Auth.SessionFromCookie(ctx, c.Value, time.Duration(pol.SessionIdleMinutes)*time.Minute)
			if err != nil && bulwark.ErrorCodeOf(err) != bulwark.CodeUnauthenticated {
				s.writeAuthErr(w, err)
				return
			}
			if p != nil && unsafeMethod(r.Method) && !s.o.Auth.CheckCSRF(p.Session, r.Header.Get(CSRFHeader)) {
				writeError(w, http.StatusForbidden, "csrf_failed", "missing or invalid X-CSRF-Token header; send the value of the bulwark_csrf cookie")
				return
			}
		}
		if p != nil {
			ctx = context.WithValue(ctx, keyPrincipal, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) writeAuthErr(w http.ResponseWriter, err error) {
	var be *bulwark.Error
	if errors.As(err, &be) && be.Code == bulwark.CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
		writeError(w, http.StatusUnauthorized, bulwark.CodeUnauthenticated, be.Message)
		return
	}
	s.o.Log.Error("authentication failed", "err", err)
	writeError(w, http.StatusInternalServerError, bulwark.CodeInternal, "internal error; the server log has the details")
}

// access is who may call an operation.
type access int

const (
	public        access = iota // anyone
	authenticated               // any signed-in user, even one who must change the password
	viewer                      // read-only pages
	operator                    // runs the gateway
	admin                       // users and settings
)

func (a access) role() bulwark.Role {
	switch a {
	case admin:
		return bulwark.RoleAdmin
	case operator:
		return bulwark.RoleOperator
	}
	return bulwark.RoleViewer
}

// register adds an operation whose handler runs only for callers with the
// required access, and maps domain errors to the error body.
func register[I, O any](s *Server, op huma.Operation, acc access, h func(ctx context.Context, p *auth.Principal, in *I) (*O, error)) {
	if acc != public {
		op.Security = []map[string][]string{{"bearer": {}}, {"session": {}}}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
		if acc != authenticated {
			op.Description = strings.TrimSpace(op.Description + "\n\nRequires role: " + string(acc.role()) + " or higher.")
		}
	}
	op.MaxBodyBytes = s.o.MaxBodyBytes
	// Access is checked in an operation middleware, which runs before huma
	// reads and validates the body: an anonymous or under-privileged caller
	// learns nothing from validation errors and a refused change is audited
	// whatever it sent.
	if acc != public {
		op.Middlewares = append(op.Middlewares, func(hctx huma.Context, next func(huma.Context)) {
			if err := s.checkAccess(hctx.Context(), op, acc); err != nil {
				writeHumaError(hctx, err)
				return
			}
			next(hctx)
		})
	}
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := h(ctx, principalFrom(ctx), in)
		if err != nil {
			if bulwark.ErrorCodeOf(err) == bulwark.CodeInternal {
				s.o.Log.Error("request failed", "operation", op.OperationID, "err", err)
			}
			return nil, toAPIError(err)
		}
		return out, nil
	})
}

// checkAccess decides whether the caller may run op.
func (s *Server) checkAccess(ctx context.Context, op huma.Operation, acc access) error {
	p := principalFrom(ctx)
	if p == nil {
		return &bulwark.Error{Code: bulwark.CodeUnauthenticated, Message: "not signed in: log in or send an API token"}
	}
	if acc == authenticated {
		return nil
	}
	if p.User.MustChangePassword {
		return &bulwark.Error{Code: bulwark.CodePasswordChangeRequired, Message: "you must change your password first (POST /api/v1/auth/password)"}
	}
	if !p.Allows(acc.role()) {
		if op.Method != http.MethodGet {
			s.audit(ctx, p.User.Username, p.User.ID, auditAction(op.OperationID), "", "", bulwark.ResultDenied,
				map[string]any{"required_role": acc.role(), "operation": op.OperationID})
		}
		return &bulwark.Error{Code: bulwark.CodeForbidden, Message: "your role (" + string(p.User.Role) + ") may not do this; it needs " + string(acc.role())}
	}
	return nil
}

// auditAction names an operation the way successful actions are audited
// (users.create → user.create), so one filter finds both.
func auditAction(operationID string) string {
	group, verb, _ := strings.Cut(operationID, ".")
	switch group {
	case "users":
		group = "user"
	case "tokens":
		group = "token"
	case "policies":
		group = "policy"
	case "proxies":
		group = "proxy"
	case "groups":
		group = "group"
	case "gateway_keys":
		group = "gateway_key"
	case "system_prompts":
		group = "system_prompt"
	case "mcp_tools":
		group = "mcp_tool"
	case "alerts":
		group = "alert"
	}
	return group + "." + verb
}

// writeHumaError writes err as the error body from an operation middleware.
func writeHumaError(hctx huma.Context, err error) {
	var body *ErrorBody
	if !errors.As(toAPIError(err), &body) {
		body = &ErrorBody{status: http.StatusInternalServerError, Err: ErrorInfo{Code: string(bulwark.CodeInternal), Message: "internal error"}}
	}
	if body.status == http.StatusUnauthorized {
		hctx.SetHeader("WWW-Authenticate", `Bearer realm="bulwark"`)
	}
	hctx.SetHeader("Content-Type", "application/json")
	hctx.SetStatus(body.status)
	_ = json.NewEncoder(hctx.BodyWriter()).Encode(body)
}

// audit records an entry and its event. The action already happened, so a
// storage failure is logged and counted rather than reported to the client.
func (s *Server) audit(ctx context.Context, actor string, actorID int64, action, resType, resID, result string, details map[string]any) {
	m := metaFrom(ctx)
	entry := &bulwark.AuditEntry{
		ActorID: actorID, Actor: actor, Action: action, ResourceType: resType, ResourceID: resID,
		Result: result, SourceIP: addr(m.IP), UserAgent: m.UserAgent, Details: details,
	}
	ev := bulwark.Event{Type: bulwark.EventConfig, Action: action, Actor: actor, Severity: bulwark.SeverityInfo}
	if strings.HasPrefix(action, "auth.") {
		ev.Type = bulwark.EventAuth
	}
	switch result {
	case bulwark.ResultFailure:
		ev.Severity = bulwark.SeverityLow
	case bulwark.ResultDenied:
		ev.Severity = bulwark.SeverityMedium
	}
	if action == "auth.lockout" {
		ev.Severity = bulwark.SeverityHigh
	}
	ev.Subject = summary(entry)
	data := map[string]any{"resource_type": resType, "resource_id": resID, "result": result, "source_ip": entry.SourceIP}
	for k, v := range details {
		data[k] = v
	}
	ev.Data, _ = json.Marshal(data)
	if _, err := s.o.Events.Audit(ctx, entry, ev); err != nil {
		s.o.Metrics.AuditError()
		s.o.Log.Error("audit record lost", "action", action, "actor", actor, "err", err)
	}
}

func summary(e *bulwark.AuditEntry) string {
	var b strings.Builder
	b.WriteString(e.Actor)
	b.WriteString(" ")
	b.WriteString(e.Action)
	if e.ResourceID != "" {
		b.WriteString(" ")
		b.WriteString(e.ResourceType)
		b.WriteString(" ")
		b.WriteString(e.ResourceID)
	}
	b.WriteString(": ")
	b.WriteString(e.Result)
	return b.String()
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// Settings returns the instance settings, cached for a few seconds so that
// a change on one replica reaches the others quickly without a read per request.
func (s *Server) Settings(ctx context.Context) bulwark.Settings {
	s.settingsMu.Lock()
	defer s.settingsMu.Unlock()
	if time.Since(s.settingsRead) < 5*time.Second {
		return s.settings
	}
	st, err := loadSettings(ctx, s.o.Store)
	if err != nil {
		s.o.Log.Warn("settings not readable; using the last known values", "err", err)
		if s.settingsRead.IsZero() {
			return bulwark.DefaultSettings()
		}
		return s.settings
	}
	s.settings, s.settingsRead = st, time.Now()
	return st
}

func (s *Server) invalidateSettings() {
	s.settingsMu.Lock()
	s.settingsRead = time.Time{}
	s.settingsMu.Unlock()
}

// loadSettings overlays the stored values on the defaults.
func loadSettings(ctx context.Context, st bulwark.SettingStore) (bulwark.Settings, error) {
	set := bulwark.DefaultSettings()
	raw, err := st.GetSettings(ctx)
	if err != nil {
		return set, err
	}
	doc, _ := json.Marshal(raw)
	// Unknown keys (from a newer version) are ignored; a malformed value
	// keeps the default for that key.
	if err := json.Unmarshal(doc, &set); err != nil {
		for k, v := range raw {
			one, _ := json.Marshal(map[string]json.RawMessage{k: v})
			_ = json.Unmarshal(one, &set)
		}
	}
	return set, nil
}

func (s *Server) routes() {
	s.authRoutes()
	s.userRoutes()
	s.tokenRoutes()
	s.auditRoutes()
	s.settingsRoutes()
	s.systemRoutes()
	s.dashboardRoutes()
	s.policyRoutes()
	s.proxyRoutes()
	s.groupRoutes()
	s.gatewayKeyRoutes()
	s.mcpToolRoutes()
	s.systemPromptRoutes()
	s.usageRoutes()
	s.alertRoutes()
	s.integrationRoutes()
	s.deliveryRoutes()
	// Server-sent events do not fit huma's request/response model: a plain
	// handler behind the same authentication middleware.
	s.mux.HandleFunc("GET "+Prefix+"/live", s.live)
}
