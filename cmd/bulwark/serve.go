package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/config"
	"github.com/bulwarkhq/bulwark/detect/classifier"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/gateway"
	"github.com/bulwarkhq/bulwark/inspect/sysprompt"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/telemetry"
	"github.com/bulwarkhq/bulwark/usage"
	"github.com/bulwarkhq/bulwark/web"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway: admin API, console, metrics",
		Long: `Run Bulwark. With no configuration it keeps its state in ./data (SQLite),
generates its keys there on first run and creates the user "admin" with a
random password that is printed once.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cmd, cmd.OutOrStdout(), nil)
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// serve runs until ctx ends. ready, when not nil, receives the bound
// address once the listener is up (tests).
func serve(ctx context.Context, cmd *cobra.Command, console io.Writer, ready chan<- string) error {
	started := time.Now()
	cfg, log, err := loadConfig(cmd, os.Stderr)
	if err != nil {
		return err
	}
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return err
	}
	k, err := loadKeys(cfg, log)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	prices, err := loadPrices(cfg.UsagePricesFile)
	if err != nil {
		return &exitError{code: 2, err: err}
	}

	// Bind before the slow start-up work so a port clash is reported at once.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	defer ln.Close()

	db, err := store.Open(ctx, cfg.ResolvedDatabaseURL(), store.Options{MigrateOnOpen: true, Logger: log})
	if err != nil {
		return fmt.Errorf("open database %s: %w", store.Redact(cfg.ResolvedDatabaseURL()), err)
	}
	defer db.Close()

	ver, commit := buildVersion()
	metrics := telemetry.NewMetrics(ver)
	metrics.RegisterDB(db.SQLDBs())
	bus := events.New(db, log, events.WithPublishHook(func(ev *bulwark.Event) {
		metrics.Events.WithLabelValues(string(ev.Type), string(ev.Severity)).Inc()
	}))
	// Delivers the outbox to the enabled integrations, which the manager
	// loads from the store now, after every API change, and every sync
	// interval (changes made through another replica).
	dispatcher := events.NewDispatcher(events.DispatchOptions{Store: db, Publisher: bus, Log: log.With("component", "events"), Registerer: metrics.Registry})
	defer dispatcher.Stop(context.Background()) // bounded; undelivered items stay in the outbox
	integ := integrations.New(integrations.Options{Store: db, Keyring: k.ring, Dispatcher: dispatcher, Router: bus, Log: log.With("component", "integrations"), Registerer: metrics.Registry})
	defer integ.Stop(context.Background()) // Langfuse tailers release their cursor for another replica
	if err := integ.Reload(ctx); err != nil {
		return err
	}
	go integ.Run(ctx, cfg.GatewaySyncInterval)
	authSvc := auth.NewService(db, auth.Options{SessionKey: k.session, SessionMaxAge: cfg.SessionMaxAge})

	if err := bootstrapAdmin(ctx, cfg, db, authSvc, bus, console); err != nil {
		return err
	}

	tracing, err := telemetry.NewTracing(ctx, cfg.TracingEndpoint, cfg.TracingServiceName, ver, cfg.TracingSampleRatio)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("tracing.otlp-endpoint: %w", err)}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(sctx)
	}()
	// The organization name is an instance setting the API owns; proxies on
	// their own ports can serve before the API exists, hence the atomic.
	var settingsSrc atomic.Pointer[api.Server]
	organization := func() string {
		if a := settingsSrc.Load(); a != nil {
			return a.Settings(context.Background()).OrganizationName
		}
		return ""
	}
	gw, err := gateway.New(gateway.Options{
		Store: db, Keyring: k.ring, Events: bus, Log: log.With("component", "gateway"),
		Registerer: metrics.Registry, Prices: prices, Classifier: classifier.Default(),
		BudgetLocation: cfg.GatewayBudgetTimezone, Organization: organization,
		DefaultTimeout: cfg.GatewayTimeout, DefaultMaxBody: cfg.GatewayMaxBodyBytes,
		SyncInterval: cfg.GatewaySyncInterval, Tracer: tracing.Provider, MCPAllowedCommands: cfg.MCPAllowedCommands,
	})
	if err != nil {
		return err
	}
	if err := gw.Start(ctx); err != nil {
		return err
	}

	apiSrv := api.New(api.Options{
		Store: db, Auth: authSvc, Events: bus, Metrics: apiMetrics{metrics}, Log: log,
		Info:           api.Info{Version: ver, Commit: commit, Engine: db.Engine(), StartedAt: started},
		SecureCookies:  cfg.SecureCookies(),
		TrustedProxies: cfg.TrustedProxies, MaxBodyBytes: cfg.MaxBodyBytes,
		Dashboard: db, Live: bus,
		Policies: db, Classifier: classifier.Default(), Alerts: db, Integrations: db, IntegrationRuntime: integ,
		GatewayStore: db, Keyring: k.ring, Gateway: apiGateway{Gateway: gw, loc: cfg.GatewayBudgetTimezone},
		ValidateSystemPrompt: func(name, text string) error { _, err := sysprompt.Parse(name, text); return err },
	})
	settingsSrc.Store(apiSrv)

	handler := rootHandler(apiSrv, db, metrics, gw)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(apiSrv.StopLive)  // live streams never go idle on their own
	srv.RegisterOnShutdown(gw.CloseSessions) // nor do MCP client streams
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}

	go maintain(ctx, db, apiSrv, log)
	systemEvent(ctx, bus, "system.start", fmt.Sprintf("Bulwark %s started", ver), map[string]any{"version": ver, "database": db.Engine()})

	errc := make(chan error, 1)
	go func() {
		if cfg.TLS() {
			errc <- srv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("bulwark is serving", "url", fmt.Sprintf("%s://%s", scheme, displayAddr(ln.Addr())), "database", db.Engine(), "version", ver)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if gerr := gw.Shutdown(sctx); gerr != nil {
		log.Warn("gateway shutdown", "err", gerr)
	}
	systemEvent(sctx, bus, "system.stop", "Bulwark stopped", map[string]any{"version": ver})
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func displayAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", ta.Port)
	}
	return a.String()
}

type apiMetrics struct{ m *telemetry.Metrics }

func (a apiMetrics) Login(result string) { a.m.Logins.WithLabelValues(result).Inc() }
func (a apiMetrics) AuditError()         { a.m.AuditErrors.Inc() }

// rootHandler routes the admin listener: the API, health, metrics and the
// console.
func rootHandler(apiSrv *api.Server, db *store.DB, metrics *telemetry.Metrics, proxies http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/p/", proxies)
	mux.Handle(api.Prefix+"/", apiSrv.Handler(metrics.Instrument))
	mux.Handle("GET /metrics", metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("/", metrics.Instrument(web.Handler()))
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bootstrapAdmin creates the first admin account when there are no users.
func bootstrapAdmin(ctx context.Context, cfg *config.Config, db *store.DB, a *auth.Service, bus *events.Bus, console io.Writer) error {
	// Bootstrap while no enabled admin exists (not merely "no users"), so an
	// operator created with the CLI before the first start does not leave
	// the instance without anyone who can manage it.
	users, err := db.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.Role == bulwark.RoleAdmin && !u.Disabled {
			return nil
		}
	}
	name := bulwark.NormalizeUsername(cfg.AdminUsername)
	u := &bulwark.User{Username: name, Role: bulwark.RoleAdmin, MustChangePassword: true, DisplayName: "Administrator"}
	if err := u.Validate(); err != nil {
		return fmt.Errorf("admin.username: %w", err)
	}
	pw, generated := cfg.AdminPassword, false
	if pw == "" {
		pw, generated = api.GeneratePassword(), true
	}
	h, err := a.HashPassword(pw, name)
	if err != nil {
		return fmt.Errorf("admin.password (BULWARK_ADMIN_PASSWORD): %w", err)
	}
	u.PasswordHash = h
	if err := db.CreateUser(ctx, u); err != nil {
		if bulwark.IsConflict(err) { // another replica won the race
			return nil
		}
		return err
	}
	if _, err := bus.Audit(ctx, &bulwark.AuditEntry{Actor: "system", Action: "user.create", ResourceType: "user",
		ResourceID: fmt.Sprint(u.ID), Result: bulwark.ResultSuccess, Details: map[string]any{"username": name, "role": "admin", "reason": "first start"}},
		bulwark.Event{Type: bulwark.EventConfig, Action: "user.create", Actor: "system", Subject: "first admin account created"}); err != nil {
		return err
	}
	if generated {
		printBox(console,
			"First start: created the admin account.",
			"  username: "+name,
			"  password: "+pw,
			"This password is shown only now. You must change it at first login.")
	} else {
		printBox(console, "First start: created the admin account "+name+" with the configured password.",
			"You must change it at first login.")
	}
	return nil
}

func systemEvent(ctx context.Context, bus *events.Bus, action, subject string, data map[string]any) {
	raw, _ := json.Marshal(data)
	_, _ = bus.Publish(ctx, bulwark.Event{Type: bulwark.EventSystem, Action: action, Actor: "system", Subject: subject, Data: raw})
}

// maintain deletes expired sessions and, hourly, what is past its retention
// (requests, events, closed alerts, audit entries).
func maintain(ctx context.Context, db *store.DB, apiSrv *api.Server, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		if n, err := db.DeleteExpiredSessions(ctx, now); err != nil && ctx.Err() == nil {
			log.Warn("session cleanup failed", "err", err)
		} else if n > 0 {
			log.Debug("expired sessions deleted", "count", n)
		}
		if days := apiSrv.Settings(ctx).RequestRetentionDays; days > 0 {
			if n, err := db.DeleteRequestsBefore(ctx, now.AddDate(0, 0, -days)); err != nil && ctx.Err() == nil {
				log.Warn("request log retention failed", "err", err)
			} else if n > 0 {
				log.Info("request records past retention deleted", "count", n, "retention_days", days)
			}
		}
		for _, r := range []struct {
			what string
			days int
			del  func(context.Context, time.Time) (int64, error)
		}{
			{"events", apiSrv.Settings(ctx).EventRetentionDays, db.DeleteEventsBefore},
			{"closed alerts", apiSrv.Settings(ctx).AlertRetentionDays, db.DeleteClosedAlertsBefore},
		} {
			if r.days <= 0 {
				continue
			}
			if n, err := r.del(ctx, now.AddDate(0, 0, -r.days)); err != nil && ctx.Err() == nil {
				log.Warn("retention failed", "what", r.what, "err", err)
			} else if n > 0 {
				log.Info("records past retention deleted", "what", r.what, "count", n, "retention_days", r.days)
			}
		}
		if days := apiSrv.Settings(ctx).AuditRetentionDays; days > 0 {
			if n, err := db.DeleteAuditBefore(ctx, now.AddDate(0, 0, -days)); err != nil && ctx.Err() == nil {
				log.Warn("audit retention failed", "err", err)
			} else if n > 0 {
				log.Info("audit entries past retention deleted", "count", n, "retention_days", days)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loadPrices is the built-in price table with a LiteLLM price file loaded
// over it.
func loadPrices(file string) (*usage.PriceTable, error) {
	t := usage.Builtin()
	if file == "" {
		return t, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("usage.prices-file: %w", err)
	}
	defer f.Close()
	m, err := usage.LoadLiteLLM(f)
	if err != nil {
		return nil, fmt.Errorf("usage.prices-file %s: %w", file, err)
	}
	if err := t.Merge(m); err != nil {
		return nil, fmt.Errorf("usage.prices-file %s: %w", file, err)
	}
	return t, nil
}

// apiGateway adapts the gateway to the API's view of it.
type apiGateway struct {
	*gateway.Gateway
	loc *time.Location
}

func (a apiGateway) Status(name string) (api.GatewayStatus, bool) {
	st, ok := a.Gateway.Status(name)
	return api.GatewayStatus{State: string(st.State), Reason: st.Reason, Since: st.Since, Addr: st.Addr}, ok
}

func (a apiGateway) BudgetStatus(ctx context.Context, g *bulwark.Group) (api.GatewayBudget, error) {
	st, err := a.Ledger().Status(ctx, g)
	if err != nil {
		return api.GatewayBudget{}, err
	}
	return api.GatewayBudget{Spent: st.Spent, Reserved: st.Reserved, Period: st.Period, ResetsAt: usage.NextReset(time.Now(), a.loc)}, nil
}
