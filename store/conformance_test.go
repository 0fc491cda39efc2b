package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

// runConformance checks every bulwark.Store method against one engine. Each
// subtest gets a fresh database from open, so they run in parallel.
func runConformance(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Users", testUsers},
		{"UserConflictsAndNotFound", testUserConflicts},
		{"LastAdminGuard", testLastAdminGuard},
		{"LoginFailures", testLoginFailures},
		{"Sessions", testSessions},
		{"APITokens", testAPITokens},
		{"Audit", testAudit},
		{"AuditPagination", testAuditPagination},
		{"Settings", testSettings},
		{"Policies", testPolicies},
		{"PolicyOptimisticUpdate", testPolicyOptimisticUpdate},
		{"Proxies", testProxies},
		{"Groups", testGroups},
		{"GatewayKeys", testGatewayKeys},
		{"SystemPrompts", testSystemPrompts},
		{"ProxyMCPConfig", testProxyMCPConfig},
		{"MCPTools", testMCPTools},
		{"MCPToolValidation", testMCPToolValidation},
		{"MCPToolOptimisticUpdate", testMCPToolOptimisticUpdate},
		{"MCPToolListOrder", testMCPToolListOrder},
		{"MCPToolCallsConcurrent", testMCPToolCallsConcurrent},
		{"DeleteProxyMCPTools", testDeleteProxyMCPTools},
		{"RequestRoundTrip", testRequestRoundTrip},
		{"RecordRequestsSpend", testRecordRequestsSpend},
		{"DeleteGroupCascade", testDeleteGroupCascade},
		{"RecordRequestsConcurrent", testRecordRequestsConcurrent},
		{"ListRequests", testListRequests},
		{"UsageSummary", testUsageSummary},
		{"Events", testEvents},
		{"RecordEventAtomic", testRecordEventAtomic},
		{"Outbox", testOutbox},
		{"OutboxConcurrentClaims", testOutboxConcurrentClaims},
		{"TimePrecision", testTimePrecision},
		{"VerbatimText", testVerbatimText},
		{"ReadyAndMigrations", testReadyAndMigrations},
		{"ContextCancelled", testContextCancelled},
		{"AlertFromEvent", testAlertFromEvent},
		{"AlertAtomic", testAlertAtomic},
		{"AlertList", testAlertList},
		{"AlertStatus", testAlertStatus},
		{"AlertNotes", testAlertNotes},
		{"Integrations", testIntegrations},
		{"RequestTail", testRequestTail},
		{"IntegrationCursors", testIntegrationCursors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// --- helpers ---

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantCode(t *testing.T, err error, code bulwark.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error, got nil", code)
	}
	if got := bulwark.ErrorCodeOf(err); got != code {
		t.Fatalf("want %s error, got %s: %v", code, got, err)
	}
}

func wantNotFound(t *testing.T, err error) {
	t.Helper()
	if !bulwark.IsNotFound(err) {
		t.Fatalf("want not-found error, got %v", err)
	}
	if !errors.Is(err, bulwark.ErrNotFound) {
		t.Fatalf("not-found error does not wrap bulwark.ErrNotFound: %v", err)
	}
}

func wantConflict(t *testing.T, err error, msgPart string) {
	t.Helper()
	if !bulwark.IsConflict(err) || !errors.Is(err, bulwark.ErrConflict) {
		t.Fatalf("want conflict wrapping bulwark.ErrConflict, got %v", err)
	}
	if !strings.Contains(err.Error(), msgPart) {
		t.Fatalf("conflict %q does not mention %q", err, msgPart)
	}
}

func newUser(t *testing.T, db *store.DB, name string, role bulwark.Role) *bulwark.User {
	t.Helper()
	u := &bulwark.User{Username: name, Email: name + "@example.com", DisplayName: strings.ToUpper(name), Role: role,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"}
	mustNil(t, db.CreateUser(t.Context(), u))
	return u
}

// base is a fixed instant with sub-microsecond digits to expose truncation.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func ptr[T any](v T) *T { return &v }

func sameTime(a, b time.Time) bool {
	return a.Equal(b) && a.Location() == time.UTC && b.Location() == time.UTC
}

func samePtrTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameTime(*a, *b)
}

func eqUser(t *testing.T, got, want *bulwark.User) {
	t.Helper()
	if got.ID != want.ID || got.Username != want.Username || got.Email != want.Email ||
		got.DisplayName != want.DisplayName || got.Role != want.Role || got.PasswordHash != want.PasswordHash ||
		got.MustChangePassword != want.MustChangePassword || got.Disabled != want.Disabled ||
		got.FailedLogins != want.FailedLogins || !samePtrTime(got.LockedUntil, want.LockedUntil) ||
		!samePtrTime(got.LastLoginAt, want.LastLoginAt) || !samePtrTime(got.PasswordChangedAt, want.PasswordChangedAt) ||
		!sameTime(got.CreatedAt, want.CreatedAt) || !sameTime(got.UpdatedAt, want.UpdatedAt) {
		t.Fatalf("user mismatch:\n got %+v\nwant %+v", got, want)
	}
}

func record(t *testing.T, db *store.DB, ev *bulwark.Event, a *bulwark.AuditEntry, sinks ...string) {
	t.Helper()
	mustNil(t, db.RecordEvent(t.Context(), ev, a, sinks))
}

func audit(action, actor string, at time.Time) *bulwark.AuditEntry {
	return &bulwark.AuditEntry{Time: at, Actor: actor, Action: action, ResourceType: "user", ResourceID: "7",
		Result: bulwark.ResultSuccess, SourceIP: "192.0.2.1", UserAgent: "test"}
}

// --- users ---

func testUsers(t *testing.T, db *store.DB) {
	ctx := t.Context()
	if n, err := db.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on empty = %d, %v", n, err)
	}
	if us, err := db.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("ListUsers on empty = %v, %v", us, err)
	}
	before := time.Now().Add(-time.Second)
	carol := newUser(t, db, "carol", bulwark.RoleViewer)
	alice := newUser(t, db, "alice", bulwark.RoleAdmin)
	bob := newUser(t, db, "bob.b", bulwark.RoleOperator)
	if carol.ID == 0 || alice.ID == 0 || carol.ID == alice.ID {
		t.Fatalf("ids not set: %d %d", carol.ID, alice.ID)
	}
	if carol.CreatedAt.Before(before) || !carol.CreatedAt.Equal(carol.UpdatedAt) || carol.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt/UpdatedAt not set: %v %v", carol.CreatedAt, carol.UpdatedAt)
	}

	got, err := db.GetUser(ctx, alice.ID)
	mustNil(t, err)
	eqUser(t, got, alice)
	got, err = db.GetUserByUsername(ctx, "bob.b")
	mustNil(t, err)
	eqUser(t, got, bob)

	list, err := db.ListUsers(ctx)
	mustNil(t, err)
	var names []string
	for _, u := range list {
		names = append(names, u.Username)
	}
	if want := []string{"alice", "bob.b", "carol"}; !slices.Equal(names, want) {
		t.Fatalf("ListUsers order = %v, want %v", names, want)
	}
	if n, err := db.CountUsers(ctx); err != nil || n != 3 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}

	// UpdateUser writes every field but ID and CreatedAt.
	upd := *carol
	upd.Username = "caroline"
	upd.Email = "c@example.org"
	upd.DisplayName = "Caroline"
	upd.Role = bulwark.RoleOperator
	upd.PasswordHash = "new-hash"
	upd.MustChangePassword = true
	upd.Disabled = true
	upd.FailedLogins = 2
	upd.LockedUntil = ptr(base.Add(time.Hour))
	upd.LastLoginAt = ptr(base)
	upd.PasswordChangedAt = ptr(base.Add(-time.Hour))
	upd.CreatedAt = base // ignored
	mustNil(t, db.UpdateUser(ctx, &upd))
	if !upd.UpdatedAt.After(carol.UpdatedAt) && !upd.UpdatedAt.Equal(carol.UpdatedAt) {
		t.Fatalf("UpdatedAt went backwards")
	}
	got, err = db.GetUser(ctx, carol.ID)
	mustNil(t, err)
	want := upd
	want.CreatedAt = carol.CreatedAt
	want.LockedUntil = ptr(base.Add(time.Hour).Truncate(time.Microsecond))
	want.LastLoginAt = ptr(base.Truncate(time.Microsecond))
	want.PasswordChangedAt = ptr(base.Add(-time.Hour).Truncate(time.Microsecond))
	eqUser(t, got, &want)
	if _, err := db.GetUserByUsername(ctx, "carol"); !bulwark.IsNotFound(err) {
		t.Fatalf("old username still found: %v", err)
	}

	// Clearing optional times writes NULL.
	upd.LockedUntil, upd.LastLoginAt, upd.PasswordChangedAt = nil, nil, nil
	mustNil(t, db.UpdateUser(ctx, &upd))
	got, err = db.GetUser(ctx, carol.ID)
	mustNil(t, err)
	if got.LockedUntil != nil || got.LastLoginAt != nil || got.PasswordChangedAt != nil {
		t.Fatalf("optional times not cleared: %+v", got)
	}

	mustNil(t, db.DeleteUser(ctx, bob.ID))
	if _, err := db.GetUser(ctx, bob.ID); !bulwark.IsNotFound(err) {
		t.Fatalf("deleted user still found: %v", err)
	}
	if n, _ := db.CountUsers(ctx); n != 2 {
		t.Fatalf("CountUsers after delete = %d", n)
	}
}

func testUserConflicts(t *testing.T, db *store.DB) {
	ctx := t.Context()
	a := newUser(t, db, "alice", bulwark.RoleAdmin)
	b := newUser(t, db, "bob", bulwark.RoleViewer)

	err := db.CreateUser(ctx, &bulwark.User{Username: "alice", Role: bulwark.RoleViewer})
	wantConflict(t, err, `username "alice" already exists`)

	upd := *b
	upd.Username = "alice"
	wantConflict(t, db.UpdateUser(ctx, &upd), `username "alice" already exists`)
	got, _ := db.GetUser(ctx, b.ID)
	if got.Username != "bob" {
		t.Fatalf("failed update changed the row: %+v", got)
	}

	_, err = db.GetUser(ctx, 999999)
	wantNotFound(t, err)
	_, err = db.GetUserByUsername(ctx, "nobody")
	wantNotFound(t, err)
	ghost := *a
	ghost.ID = 999999
	wantNotFound(t, db.UpdateUser(ctx, &ghost))
	ghost.Role = bulwark.RoleViewer
	wantNotFound(t, db.UpdateUser(ctx, &ghost))
	wantNotFound(t, db.DeleteUser(ctx, 999999))
	_, err = db.RecordLoginFailure(ctx, 999999, 3, base)
	wantNotFound(t, err)
	wantNotFound(t, db.RecordLoginSuccess(ctx, 999999, base))

	// A role the schema does not know is refused by the database too.
	if err := db.CreateUser(ctx, &bulwark.User{Username: "mallory", Role: "root"}); err == nil {
		t.Fatal("unknown role stored")
	}
}

func testLastAdminGuard(t *testing.T, db *store.DB) {
	ctx := t.Context()
	admin := newUser(t, db, "admin", bulwark.RoleAdmin)
	op := newUser(t, db, "op", bulwark.RoleOperator)
	off := newUser(t, db, "off", bulwark.RoleAdmin)
	off.Disabled = true
	mustNil(t, db.UpdateUser(ctx, off)) // disabling a second admin is fine while one stays enabled

	wantLastAdmin := func(err error) {
		t.Helper()
		wantCode(t, err, bulwark.CodeConflict)
		if !strings.Contains(err.Error(), "would leave no enabled admin") {
			t.Fatalf("unexpected message: %v", err)
		}
	}
	demote := *admin
	demote.Role = bulwark.RoleOperator
	wantLastAdmin(db.UpdateUser(ctx, &demote))
	disable := *admin
	disable.Disabled = true
	wantLastAdmin(db.UpdateUser(ctx, &disable))
	wantLastAdmin(db.DeleteUser(ctx, admin.ID))
	got, _ := db.GetUser(ctx, admin.ID)
	if got.Role != bulwark.RoleAdmin || got.Disabled {
		t.Fatalf("refused change was applied: %+v", got)
	}

	// Other edits of the last admin, and changes to non-admins, are allowed.
	rename := *admin
	rename.DisplayName = "Root"
	mustNil(t, db.UpdateUser(ctx, &rename))
	mustNil(t, db.DeleteUser(ctx, off.ID)) // a disabled admin does not count
	op.Role = bulwark.RoleAdmin
	mustNil(t, db.UpdateUser(ctx, op))

	// With two enabled admins one may go, then the other is the last.
	mustNil(t, db.DeleteUser(ctx, admin.ID))
	wantLastAdmin(db.DeleteUser(ctx, op.ID))
	op.Role = bulwark.RoleViewer
	wantLastAdmin(db.UpdateUser(ctx, op))
}

func testLoginFailures(t *testing.T, db *store.DB) {
	ctx := t.Context()
	u := newUser(t, db, "user", bulwark.RoleViewer)
	lock := base.Add(15 * time.Minute)
	for i := 1; i <= 2; i++ {
		got, err := db.RecordLoginFailure(ctx, u.ID, 3, lock)
		mustNil(t, err)
		if got.FailedLogins != i || got.LockedUntil != nil {
			t.Fatalf("after %d failures: count %d, locked %v", i, got.FailedLogins, got.LockedUntil)
		}
	}
	got, err := db.RecordLoginFailure(ctx, u.ID, 3, lock)
	mustNil(t, err)
	if got.FailedLogins != 3 || got.LockedUntil == nil || !sameTime(*got.LockedUntil, lock.Truncate(time.Microsecond)) {
		t.Fatalf("third failure: count %d, locked %v", got.FailedLogins, got.LockedUntil)
	}
	eqUser(t, mustGetUser(t, db, u.ID), got)

	at := base.Add(time.Hour)
	mustNil(t, db.RecordLoginSuccess(ctx, u.ID, at))
	got = mustGetUser(t, db, u.ID)
	if got.FailedLogins != 0 || got.LockedUntil != nil || got.LastLoginAt == nil ||
		!sameTime(*got.LastLoginAt, at.Truncate(time.Microsecond)) {
		t.Fatalf("after success: %+v", got)
	}

	// maxFailures <= 0 never locks.
	got, err = db.RecordLoginFailure(ctx, u.ID, 0, lock)
	mustNil(t, err)
	if got.FailedLogins != 1 || got.LockedUntil != nil {
		t.Fatalf("maxFailures 0: %+v", got)
	}

	// The increment is atomic: concurrent failures are all counted.
	const n = 25
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := db.RecordLoginFailure(ctx, u.ID, 1000, lock)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		mustNil(t, err)
	}
	if got := mustGetUser(t, db, u.ID); got.FailedLogins != n+1 {
		t.Fatalf("concurrent failures counted %d, want %d", got.FailedLogins, n+1)
	}
}

func mustGetUser(t *testing.T, db *store.DB, id int64) *bulwark.User {
	t.Helper()
	u, err := db.GetUser(t.Context(), id)
	mustNil(t, err)
	return u
}

// --- sessions ---

func testSessions(t *testing.T, db *store.DB) {
	ctx := t.Context()
	u := newUser(t, db, "user", bulwark.RoleViewer)
	other := newUser(t, db, "other", bulwark.RoleViewer)
	mk := func(id string, user int64, expires time.Time) *bulwark.Session {
		s := &bulwark.Session{ID: id, UserID: user, CreatedAt: base, ExpiresAt: expires, LastSeenAt: base,
			SourceIP: "2001:db8::1", UserAgent: "Mozilla/5.0 (X11) \"quoted\""}
		mustNil(t, db.CreateSession(ctx, s))
		return s
	}
	s1 := mk("s1", u.ID, base.Add(time.Hour))
	mk("s2", u.ID, base.Add(2*time.Hour))
	mk("s3", u.ID, base.Add(-time.Minute))
	mk("o1", other.ID, base.Add(-time.Second))

	got, err := db.GetSession(ctx, "s1")
	mustNil(t, err)
	if got.ID != "s1" || got.UserID != u.ID || !sameTime(got.CreatedAt, s1.CreatedAt.Truncate(time.Microsecond)) ||
		!sameTime(got.ExpiresAt, s1.ExpiresAt.Truncate(time.Microsecond)) || got.SourceIP != s1.SourceIP ||
		got.UserAgent != s1.UserAgent {
		t.Fatalf("GetSession = %+v", got)
	}

	wantConflict(t, db.CreateSession(ctx, &bulwark.Session{ID: "s1", UserID: u.ID, ExpiresAt: base}), "session")
	wantNotFound(t, db.CreateSession(ctx, &bulwark.Session{ID: "x", UserID: 999999, ExpiresAt: base}))
	_, err = db.GetSession(ctx, "nope")
	wantNotFound(t, err)

	seen, exp := base.Add(10*time.Minute), base.Add(70*time.Minute)
	mustNil(t, db.TouchSession(ctx, "s1", seen, exp))
	got, _ = db.GetSession(ctx, "s1")
	if !sameTime(got.LastSeenAt, seen.Truncate(time.Microsecond)) || !sameTime(got.ExpiresAt, exp.Truncate(time.Microsecond)) {
		t.Fatalf("TouchSession not applied: %+v", got)
	}
	wantNotFound(t, db.TouchSession(ctx, "nope", seen, exp))

	// Expiry is inclusive: a session expiring exactly now is gone.
	n, err := db.DeleteExpiredSessions(ctx, base.Add(-time.Second))
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("DeleteExpiredSessions removed %d, want 2 (s3, o1)", n)
	}
	if _, err := db.GetSession(ctx, "s3"); !bulwark.IsNotFound(err) {
		t.Fatalf("expired session s3 still there: %v", err)
	}

	mk("s4", u.ID, base.Add(time.Hour))
	mk("o2", other.ID, base.Add(time.Hour))
	mustNil(t, db.DeleteUserSessions(ctx, u.ID, "s1"))
	for id, want := range map[string]bool{"s1": true, "s2": false, "s4": false, "o2": true} {
		_, err := db.GetSession(ctx, id)
		if (err == nil) != want {
			t.Fatalf("after DeleteUserSessions, session %s present=%v: %v", id, err == nil, err)
		}
	}
	mustNil(t, db.DeleteUserSessions(ctx, u.ID, ""))
	if _, err := db.GetSession(ctx, "s1"); !bulwark.IsNotFound(err) {
		t.Fatalf("keepID \"\" kept s1: %v", err)
	}

	mustNil(t, db.DeleteSession(ctx, "o2"))
	mustNil(t, db.DeleteSession(ctx, "o2")) // idempotent
	if _, err := db.GetSession(ctx, "o2"); !bulwark.IsNotFound(err) {
		t.Fatalf("deleted session still there: %v", err)
	}

	// Deleting a user deletes its sessions.
	mk("o3", other.ID, base.Add(time.Hour))
	mustNil(t, db.DeleteUser(ctx, other.ID))
	if _, err := db.GetSession(ctx, "o3"); !bulwark.IsNotFound(err) {
		t.Fatalf("session survived its user: %v", err)
	}
}

// --- tokens ---

func testAPITokens(t *testing.T, db *store.DB) {
	ctx := t.Context()
	u := newUser(t, db, "user", bulwark.RoleOperator)
	v := newUser(t, db, "viewer", bulwark.RoleViewer)
	mk := func(user int64, name, hash string, created time.Time, exp *time.Time) *bulwark.APIToken {
		tok := &bulwark.APIToken{UserID: user, Name: name, Prefix: "bwk_" + hash[:4], Hash: hash, CreatedAt: created, ExpiresAt: exp}
		mustNil(t, db.CreateAPIToken(ctx, tok))
		if tok.ID == 0 {
			t.Fatal("token ID not set")
		}
		return tok
	}
	t1 := mk(u.ID, "ci", "aaaa1111", base, ptr(base.Add(24*time.Hour)))
	t2 := mk(u.ID, "deploy", "bbbb2222", base.Add(time.Minute), nil)
	t3 := mk(v.ID, "read", "cccc3333", base.Add(2*time.Minute), nil)
	t4 := &bulwark.APIToken{UserID: v.ID, Name: "auto", Hash: "dddd4444"}
	mustNil(t, db.CreateAPIToken(ctx, t4))
	if t4.CreatedAt.IsZero() {
		t.Fatal("CreatedAt not defaulted")
	}

	got, err := db.GetAPIToken(ctx, t1.ID)
	mustNil(t, err)
	if got.Name != "ci" || got.Hash != "aaaa1111" || got.Prefix != "bwk_aaaa" || got.UserID != u.ID ||
		!sameTime(got.CreatedAt, base.Truncate(time.Microsecond)) || got.ExpiresAt == nil ||
		!sameTime(*got.ExpiresAt, base.Add(24*time.Hour).Truncate(time.Microsecond)) ||
		got.LastUsedAt != nil || got.RevokedAt != nil {
		t.Fatalf("GetAPIToken = %+v", got)
	}
	got, err = db.GetAPITokenByHash(ctx, "bbbb2222")
	mustNil(t, err)
	if got.ID != t2.ID {
		t.Fatalf("GetAPITokenByHash = %+v", got)
	}
	_, err = db.GetAPIToken(ctx, 999999)
	wantNotFound(t, err)
	_, err = db.GetAPITokenByHash(ctx, "nope")
	wantNotFound(t, err)

	err = db.CreateAPIToken(ctx, &bulwark.APIToken{UserID: u.ID, Name: "dup", Hash: "aaaa1111"})
	wantConflict(t, err, "already exists")
	wantNotFound(t, db.CreateAPIToken(ctx, &bulwark.APIToken{UserID: 999999, Name: "x", Hash: "eeee"}))

	ids := func(ts []*bulwark.APIToken) []int64 {
		var out []int64
		for _, tk := range ts {
			out = append(out, tk.ID)
		}
		return out
	}
	list, err := db.ListAPITokens(ctx, u.ID)
	mustNil(t, err)
	if want := []int64{t2.ID, t1.ID}; !slices.Equal(ids(list), want) {
		t.Fatalf("ListAPITokens(user) = %v, want %v", ids(list), want)
	}
	list, err = db.ListAPITokens(ctx, 0)
	mustNil(t, err)
	if want := []int64{t4.ID, t3.ID, t2.ID, t1.ID}; !slices.Equal(ids(list), want) {
		t.Fatalf("ListAPITokens(0) = %v, want %v", ids(list), want)
	}

	used := base.Add(time.Hour)
	mustNil(t, db.TouchAPIToken(ctx, t1.ID, used))
	revoked := base.Add(2 * time.Hour)
	mustNil(t, db.RevokeAPIToken(ctx, t1.ID, revoked))
	mustNil(t, db.RevokeAPIToken(ctx, t1.ID, revoked.Add(time.Hour))) // keeps the first time
	got, _ = db.GetAPIToken(ctx, t1.ID)
	if got.LastUsedAt == nil || !sameTime(*got.LastUsedAt, used.Truncate(time.Microsecond)) ||
		got.RevokedAt == nil || !sameTime(*got.RevokedAt, revoked.Truncate(time.Microsecond)) {
		t.Fatalf("after touch+revoke: %+v", got)
	}
	if got.Active(base) {
		t.Fatal("revoked token is active")
	}
	wantNotFound(t, db.TouchAPIToken(ctx, 999999, used))
	wantNotFound(t, db.RevokeAPIToken(ctx, 999999, used))

	mustNil(t, db.DeleteUser(ctx, v.ID))
	if _, err := db.GetAPIToken(ctx, t3.ID); !bulwark.IsNotFound(err) {
		t.Fatalf("token survived its user: %v", err)
	}
}

// --- audit ---

func testAudit(t *testing.T, db *store.DB) {
	ctx := t.Context()
	entries := []*bulwark.AuditEntry{
		{Time: base, ActorID: 1, Actor: "alice", Action: "auth.login", ResourceType: "session", Result: bulwark.ResultSuccess,
			SourceIP: "192.0.2.10", UserAgent: "ua"},
		{Time: base.Add(time.Minute), Actor: "Mallory", Action: "auth.login_failed", Result: bulwark.ResultFailure,
			SourceIP: "198.51.100.7", Details: map[string]any{"reason": "bad password"}},
		{Time: base.Add(2 * time.Minute), ActorID: 1, Actor: "alice", Action: "user.create", ResourceType: "user",
			ResourceID: "42", Result: bulwark.ResultSuccess, Details: map[string]any{"username": "Zoë", "fields": []any{"role"}}},
		{Time: base.Add(3 * time.Minute), ActorID: 1, Actor: "alice", Action: "authx.other", Result: bulwark.ResultDenied,
			Details: map[string]any{"note": "100%_done <b>"}},
		{Time: base.Add(4 * time.Minute), Actor: "system", Action: "settings.update", ResourceType: "settings",
			Result: bulwark.ResultSuccess, Details: map[string]any{"note": "100 percent done"}},
	}
	for i, a := range entries {
		record(t, db, &bulwark.Event{Type: bulwark.EventAuth, Action: a.Action, Severity: bulwark.SeverityInfo}, a)
		if a.ID == 0 {
			t.Fatalf("entry %d: ID not set", i)
		}
	}

	got, err := db.GetAudit(ctx, entries[2].ID)
	mustNil(t, err)
	if got.Actor != "alice" || got.ActorID != 1 || got.Action != "user.create" || got.ResourceID != "42" ||
		!sameTime(got.Time, base.Add(2*time.Minute).Truncate(time.Microsecond)) ||
		got.Details["username"] != "Zoë" || fmt.Sprint(got.Details["fields"]) != "[role]" {
		t.Fatalf("GetAudit = %+v", got)
	}
	if g, _ := db.GetAudit(ctx, entries[0].ID); g.Details != nil {
		t.Fatalf("nil details read back as %v", g.Details)
	}
	_, err = db.GetAudit(ctx, 999999)
	wantNotFound(t, err)

	list := func(f bulwark.AuditFilter) ([]string, int) {
		t.Helper()
		p, err := db.ListAudit(ctx, f)
		mustNil(t, err)
		var acts []string
		for _, e := range p.Items {
			acts = append(acts, e.Action)
		}
		return acts, p.Total
	}
	check := func(name string, f bulwark.AuditFilter, want ...string) {
		t.Helper()
		got, total := list(f)
		if !slices.Equal(got, want) || total != len(want) {
			t.Fatalf("%s: got %v (total %d), want %v", name, got, total, want)
		}
	}
	check("all, newest first", bulwark.AuditFilter{},
		"settings.update", "authx.other", "user.create", "auth.login_failed", "auth.login")
	check("actor", bulwark.AuditFilter{Actor: "alice"}, "authx.other", "user.create", "auth.login")
	check("action exact", bulwark.AuditFilter{Action: "auth.login"}, "auth.login")
	check("action prefix", bulwark.AuditFilter{Action: "auth."}, "auth.login_failed", "auth.login")
	check("action prefix is case-sensitive", bulwark.AuditFilter{Action: "AUTH."})
	check("resource type", bulwark.AuditFilter{ResourceType: "user"}, "user.create")
	check("resource id", bulwark.AuditFilter{ResourceID: "42"}, "user.create")
	check("result", bulwark.AuditFilter{Result: bulwark.ResultFailure}, "auth.login_failed")
	check("since inclusive", bulwark.AuditFilter{Since: base.Add(3 * time.Minute)}, "settings.update", "authx.other")
	check("until exclusive", bulwark.AuditFilter{Until: base.Add(time.Minute)}, "auth.login")
	check("since+until", bulwark.AuditFilter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)},
		"user.create", "auth.login_failed")
	check("query actor, case-insensitive", bulwark.AuditFilter{Query: "mALLOry"}, "auth.login_failed")
	check("query action", bulwark.AuditFilter{Query: "LOGIN_F"}, "auth.login_failed")
	check("query ip", bulwark.AuditFilter{Query: "192.0.2"}, "auth.login")
	check("query resource id", bulwark.AuditFilter{Query: "42"}, "user.create")
	check("query details", bulwark.AuditFilter{Query: "bad pass"}, "auth.login_failed")
	check("query details unicode", bulwark.AuditFilter{Query: "Zoë"}, "user.create")
	check("query html kept", bulwark.AuditFilter{Query: "<b>"}, "authx.other")
	check("query % is literal", bulwark.AuditFilter{Query: "100%"}, "authx.other")
	check("query _ is literal", bulwark.AuditFilter{Query: "%_d"}, "authx.other")
	check("query no match", bulwark.AuditFilter{Query: "zzz"})
	check("combined", bulwark.AuditFilter{Actor: "alice", Action: "auth.", Query: "192"}, "auth.login")

	n, err := db.DeleteAuditBefore(ctx, base.Add(2*time.Minute))
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("DeleteAuditBefore removed %d, want 2", n)
	}
	check("after delete", bulwark.AuditFilter{}, "settings.update", "authx.other", "user.create")
}

func testAuditPagination(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const n = 60
	for i := range n {
		// Pairs share a timestamp, so the id tie-breaker decides their order.
		record(t, db, &bulwark.Event{Type: bulwark.EventConfig}, audit(fmt.Sprintf("test.a%02d", i), "bot", base.Add(time.Duration(i/2)*time.Second)))
	}
	p, err := db.ListAudit(ctx, bulwark.AuditFilter{})
	mustNil(t, err)
	if len(p.Items) != 50 || p.Total != n {
		t.Fatalf("default page: %d items, total %d", len(p.Items), p.Total)
	}
	if p.Items[0].Action != "test.a59" || p.Items[1].Action != "test.a58" || p.Items[49].Action != "test.a10" {
		t.Fatalf("order: %s %s … %s", p.Items[0].Action, p.Items[1].Action, p.Items[49].Action)
	}
	// Sorting: oldest first, and by a column with newest-first ties.
	p, err = db.ListAudit(ctx, bulwark.AuditFilter{Sort: "time", Limit: 3})
	mustNil(t, err)
	if p.Items[0].Action != "test.a00" || p.Items[2].Action != "test.a02" || p.Total != n {
		t.Fatalf("sort time: %s %s", p.Items[0].Action, p.Items[2].Action)
	}
	p, err = db.ListAudit(ctx, bulwark.AuditFilter{Sort: "-action", Limit: 2})
	mustNil(t, err)
	if p.Items[0].Action != "test.a59" || p.Items[1].Action != "test.a58" {
		t.Fatalf("sort -action: %s %s", p.Items[0].Action, p.Items[1].Action)
	}
	p, err = db.ListAudit(ctx, bulwark.AuditFilter{Sort: "action", Limit: 1})
	mustNil(t, err)
	if p.Items[0].Action != "test.a00" {
		t.Fatalf("sort action: %s", p.Items[0].Action)
	}
	for _, bad := range []string{"id; DROP TABLE audit_log", "details", "-"} {
		if _, err := db.ListAudit(ctx, bulwark.AuditFilter{Sort: bad}); bulwark.ErrorCodeOf(err) != bulwark.CodeInvalid {
			t.Fatalf("sort %q: %v", bad, err)
		}
	}
	p, err = db.ListAudit(ctx, bulwark.AuditFilter{Limit: 7, Offset: 56})
	mustNil(t, err)
	if len(p.Items) != 4 || p.Total != n || p.Items[3].Action != "test.a00" {
		t.Fatalf("last page: %d items, total %d", len(p.Items), p.Total)
	}
	p, err = db.ListAudit(ctx, bulwark.AuditFilter{Action: "test.", Limit: 10, Offset: 100})
	mustNil(t, err)
	if len(p.Items) != 0 || p.Total != n || p.Items == nil {
		t.Fatalf("past the end: %d items, total %d, nil=%v", len(p.Items), p.Total, p.Items == nil)
	}
	p, err = db.ListAudit(ctx, bulwark.AuditFilter{Limit: 100000, Offset: -5})
	mustNil(t, err)
	if len(p.Items) != n {
		t.Fatalf("large limit: %d items", len(p.Items))
	}
	// Walking pages visits every entry once.
	seen := map[int64]bool{}
	for off := 0; off < n; off += 11 {
		p, err := db.ListAudit(ctx, bulwark.AuditFilter{Limit: 11, Offset: off})
		mustNil(t, err)
		for _, e := range p.Items {
			if seen[e.ID] {
				t.Fatalf("entry %d on two pages", e.ID)
			}
			seen[e.ID] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("pages covered %d entries, want %d", len(seen), n)
	}
}

// --- settings ---

func testSettings(t *testing.T, db *store.DB) {
	ctx := t.Context()
	got, err := db.GetSettings(ctx)
	mustNil(t, err)
	if len(got) != 0 {
		t.Fatalf("fresh settings = %v", got)
	}
	vals := map[string]json.RawMessage{
		"organization_name":    json.RawMessage(`"O'Brien \"Ltd\"; DROP TABLE settings;--"`),
		"session_idle_minutes": json.RawMessage(`  30 `), // stored byte for byte
		"nested":               json.RawMessage(`{"b": [1, 2], "a": "ü"}`),
	}
	mustNil(t, db.PutSettings(ctx, vals, "alice", base))
	got, err = db.GetSettings(ctx)
	mustNil(t, err)
	if len(got) != len(vals) {
		t.Fatalf("GetSettings = %v", got)
	}
	for k, v := range vals {
		if string(got[k]) != string(v) {
			t.Fatalf("setting %s = %s, want %s", k, got[k], v)
		}
	}
	mustNil(t, db.PutSettings(ctx, map[string]json.RawMessage{"session_idle_minutes": json.RawMessage(`45`)}, "bob", base.Add(time.Hour)))
	got, _ = db.GetSettings(ctx)
	if string(got["session_idle_minutes"]) != "45" || string(got["nested"]) != string(vals["nested"]) {
		t.Fatalf("after upsert: %v", got)
	}

	// One bad value rejects the whole batch.
	err = db.PutSettings(ctx, map[string]json.RawMessage{"organization_name": json.RawMessage(`"ok"`),
		"bad": json.RawMessage(`{not json`)}, "bob", base)
	wantCode(t, err, bulwark.CodeInvalid)
	got, _ = db.GetSettings(ctx)
	if _, ok := got["bad"]; ok || string(got["organization_name"]) != string(vals["organization_name"]) {
		t.Fatalf("rejected batch partly stored: %v", got)
	}
	mustNil(t, db.PutSettings(ctx, nil, "bob", base))
}

// --- events and outbox ---

func testEvents(t *testing.T, db *store.DB) {
	ctx := t.Context()
	evs := []*bulwark.Event{
		{Time: base, Type: bulwark.EventAlert, Action: "policy.block", Severity: bulwark.SeverityHigh, Category: "prompt_injection",
			Actor: "client-1", Subject: "blocked", Data: json.RawMessage(`{"rule":"pi-001","score":0.97}`)},
		{Time: base.Add(time.Second), Type: bulwark.EventAuth, Action: "auth.login", Severity: bulwark.SeverityInfo, Actor: "alice"},
		{Time: base.Add(2 * time.Second), Type: bulwark.EventAlert, Action: "policy.redact", Severity: bulwark.SeverityMedium},
		{Time: base.Add(3 * time.Second), Type: bulwark.EventAlert, Action: "policy.block", Severity: bulwark.SeverityCritical},
	}
	for _, ev := range evs {
		record(t, db, ev, nil)
		if ev.ID == "" {
			t.Fatal("event ID not generated")
		}
	}
	auto := &bulwark.Event{Type: bulwark.EventSystem, Action: "system.start"}
	before := time.Now().Add(-time.Second)
	record(t, db, auto, nil)
	if auto.Time.Before(before) || auto.Time.Location() != time.UTC {
		t.Fatalf("event time not defaulted: %v", auto.Time)
	}

	p, err := db.ListEvents(ctx, bulwark.EventFilter{Type: bulwark.EventAlert})
	mustNil(t, err)
	if p.Total != 3 || len(p.Items) != 3 || p.Items[0].ID != evs[3].ID || p.Items[2].ID != evs[0].ID {
		t.Fatalf("alerts: %+v", p)
	}
	e := p.Items[2]
	if e.Action != "policy.block" || e.Severity != bulwark.SeverityHigh || e.Category != "prompt_injection" ||
		e.Actor != "client-1" || e.Subject != "blocked" || string(e.Data) != `{"rule":"pi-001","score":0.97}` ||
		!sameTime(e.Time, base.Truncate(time.Microsecond)) {
		t.Fatalf("event round trip: %+v", e)
	}
	if p.Items[0].Data != nil {
		t.Fatalf("empty data read back as %q", p.Items[0].Data)
	}
	p, err = db.ListEvents(ctx, bulwark.EventFilter{MinSeverity: bulwark.SeverityHigh})
	mustNil(t, err)
	if p.Total != 2 || p.Items[0].ID != evs[3].ID || p.Items[1].ID != evs[0].ID {
		t.Fatalf("min severity high: %+v", p)
	}
	p, err = db.ListEvents(ctx, bulwark.EventFilter{Since: base.Add(time.Second), Limit: 2, Offset: 1})
	mustNil(t, err)
	if p.Total != 4 || len(p.Items) != 2 || p.Items[0].ID != evs[3].ID || p.Items[1].ID != evs[2].ID {
		t.Fatalf("since+page: total %d, %+v", p.Total, p.Items)
	}
	_, err = db.ListEvents(ctx, bulwark.EventFilter{MinSeverity: "urgent"})
	wantCode(t, err, bulwark.CodeInvalid)

	err = db.RecordEvent(ctx, &bulwark.Event{Type: bulwark.EventSystem, Data: json.RawMessage(`{oops`)}, nil, nil)
	wantCode(t, err, bulwark.CodeInvalid)
}

func testRecordEventAtomic(t *testing.T, db *store.DB) {
	ctx := t.Context()
	ev := &bulwark.Event{ID: "11111111-1111-4111-8111-111111111111", Type: bulwark.EventConfig, Action: "user.create"}
	a := audit("user.create", "alice", base)
	record(t, db, ev, a, "siem", "slack", "siem")
	if d, _ := db.OutboxDepth(ctx, ""); d != 2 {
		t.Fatalf("duplicate sink names gave %d outbox rows, want 2", d)
	}

	// The same event id again: the event insert fails, and neither the
	// audit entry nor the outbox rows of that attempt may remain.
	dup := &bulwark.Event{ID: ev.ID, Type: bulwark.EventConfig, Action: "user.delete"}
	a2 := audit("user.delete", "alice", base.Add(time.Minute))
	err := db.RecordEvent(ctx, dup, a2, []string{"siem", "webhook"})
	wantConflict(t, err, ev.ID)
	if a2.ID != 0 {
		t.Fatalf("failed RecordEvent set audit ID %d", a2.ID)
	}
	p, _ := db.ListAudit(ctx, bulwark.AuditFilter{})
	if p.Total != 1 {
		t.Fatalf("audit entries after failed RecordEvent: %d", p.Total)
	}
	for sink, want := range map[string]int{"siem": 1, "slack": 1, "webhook": 0} {
		if d, _ := db.OutboxDepth(ctx, sink); d != want {
			t.Fatalf("outbox %s depth %d, want %d", sink, d, want)
		}
	}

	// A failure after the event row is written (audit details that cannot be
	// encoded) rolls the event back too.
	bad := &bulwark.Event{ID: "22222222-2222-4222-8222-222222222222", Type: bulwark.EventConfig}
	a3 := audit("user.update", "alice", base)
	a3.Details = map[string]any{"f": func() {}}
	if err := db.RecordEvent(ctx, bad, a3, []string{"siem"}); err == nil {
		t.Fatal("unencodable details accepted")
	}
	pe, _ := db.ListEvents(ctx, bulwark.EventFilter{})
	if pe.Total != 1 {
		t.Fatalf("events after rolled-back RecordEvent: %d", pe.Total)
	}
	if d, _ := db.OutboxDepth(ctx, "siem"); d != 1 {
		t.Fatalf("outbox after rolled-back RecordEvent: %d", d)
	}
	// The id is free again, so the event can be recorded for real.
	a3.Details = map[string]any{"f": "ok"}
	record(t, db, bad, a3, "siem")
}

func testOutbox(t *testing.T, db *store.DB) {
	ctx := t.Context()
	if items, err := db.ClaimOutbox(ctx, "siem", 10, time.Now(), time.Minute); err != nil || len(items) != 0 {
		t.Fatalf("claim on empty outbox: %v, %v", items, err)
	}
	var evs []*bulwark.Event
	for i := range 3 {
		ev := &bulwark.Event{Type: bulwark.EventAlert, Action: fmt.Sprintf("a%d", i), Severity: bulwark.SeverityHigh,
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		record(t, db, ev, nil, "siem", "slack")
		evs = append(evs, ev)
	}
	now := time.Now().Add(time.Second) // every row recorded above is due
	depth := func(sink string) int {
		t.Helper()
		d, err := db.OutboxDepth(ctx, sink)
		mustNil(t, err)
		return d
	}
	if depth("siem") != 3 || depth("slack") != 3 || depth("") != 6 || depth("none") != 0 {
		t.Fatal("initial depths wrong")
	}

	items, err := db.ClaimOutbox(ctx, "siem", 2, now, time.Minute)
	mustNil(t, err)
	if len(items) != 2 || items[0].Event.ID != evs[0].ID || items[1].Event.ID != evs[1].ID {
		t.Fatalf("first claim: %+v", items)
	}
	it := items[0]
	if it.Sink != "siem" || it.EventID != evs[0].ID || it.Attempts != 0 || it.LastError != "" ||
		it.Event.Action != "a0" || string(it.Event.Data) != `{"n":0}` || it.Event.Type != bulwark.EventAlert {
		t.Fatalf("claimed item: %+v", it)
	}
	// Leased items are not claimed again; the third one is.
	items, err = db.ClaimOutbox(ctx, "siem", 10, now, time.Minute)
	mustNil(t, err)
	if len(items) != 1 || items[0].Event.ID != evs[2].ID {
		t.Fatalf("second claim: %+v", items)
	}
	if items, _ := db.ClaimOutbox(ctx, "siem", 10, now.Add(30*time.Second), time.Minute); len(items) != 0 {
		t.Fatalf("claimed during lease: %+v", items)
	}
	// Leased items still count as pending.
	if depth("siem") != 3 {
		t.Fatal("leased items not counted")
	}
	// After the lease runs out (a crashed worker), they are claimable again.
	later := now.Add(2 * time.Minute)
	items, err = db.ClaimOutbox(ctx, "siem", 10, later, time.Minute)
	mustNil(t, err)
	if len(items) != 3 {
		t.Fatalf("claim after lease expiry: %d items", len(items))
	}
	first, second, third := items[0].ID, items[1].ID, items[2].ID

	next := later.Add(5 * time.Minute)
	mustNil(t, db.RetryOutbox(ctx, first, next, "HTTP 503: "+strings.Repeat("x", 5000)))
	mustNil(t, db.CompleteOutbox(ctx, []int64{second}))
	mustNil(t, db.DeadLetterOutbox(ctx, third, "HTTP 400: bad request"))
	if depth("siem") != 1 {
		t.Fatalf("depth after retry/complete/dead = %d, want 1", depth("siem"))
	}
	// Retry released the lease but the item is not due before next.
	if items, _ := db.ClaimOutbox(ctx, "siem", 10, next.Add(-time.Second), time.Minute); len(items) != 0 {
		t.Fatalf("claimed before next attempt: %+v", items)
	}
	items, err = db.ClaimOutbox(ctx, "siem", 10, next, time.Minute)
	mustNil(t, err)
	if len(items) != 1 || items[0].ID != first || items[0].Attempts != 1 ||
		!strings.HasPrefix(items[0].LastError, "HTTP 503: xxx") || len(items[0].LastError) > 2000 ||
		!sameTime(items[0].NextAttempt, next.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("retried item: %+v", items)
	}
	// Dead and completed items can no longer be retried or dead-lettered.
	wantNotFound(t, db.RetryOutbox(ctx, third, next, "x"))
	wantNotFound(t, db.DeadLetterOutbox(ctx, second, "x"))
	wantNotFound(t, db.RetryOutbox(ctx, 999999, next, "x"))
	mustNil(t, db.CompleteOutbox(ctx, []int64{first, second, 999999}))
	mustNil(t, db.CompleteOutbox(ctx, nil))
	if depth("siem") != 0 || depth("slack") != 3 {
		t.Fatalf("final depths siem %d slack %d", depth("siem"), depth("slack"))
	}
	if items, _ := db.ClaimOutbox(ctx, "siem", 10, next.Add(time.Hour), time.Minute); len(items) != 0 {
		t.Fatalf("dead item claimed: %+v", items)
	}
	if items, err := db.ClaimOutbox(ctx, "slack", 0, now, time.Minute); err != nil || items != nil {
		t.Fatalf("limit 0: %v %v", items, err)
	}
	_, err = db.ClaimOutbox(ctx, "slack", 1, now, 0)
	wantCode(t, err, bulwark.CodeInvalid)
}

func testOutboxConcurrentClaims(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const n = 30
	for i := range n {
		record(t, db, &bulwark.Event{Type: bulwark.EventAlert, Action: fmt.Sprint(i)}, nil, "siem")
	}
	now := time.Now().Add(time.Second)
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			for {
				items, err := db.ClaimOutbox(ctx, "siem", 4, now, time.Hour)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(items) == 0 {
					return
				}
				mu.Lock()
				for _, it := range items {
					claimed[it.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Fatalf("claimed %d distinct items, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Fatalf("item %d claimed %d times", id, c)
		}
	}
}

// --- cross-cutting ---

func testTimePrecision(t *testing.T, db *store.DB) {
	ctx := t.Context()
	u := newUser(t, db, "user", bulwark.RoleViewer)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	cases := []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, zone), // truncated, not rounded
		time.Date(1999, 12, 31, 23, 59, 59, 1000, time.UTC),
		time.Date(2100, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, 0).UTC(),
	}
	for i, tm := range cases {
		id := fmt.Sprintf("s%d", i)
		mustNil(t, db.CreateSession(ctx, &bulwark.Session{ID: id, UserID: u.ID, CreatedAt: tm, ExpiresAt: tm, LastSeenAt: tm}))
		s, err := db.GetSession(ctx, id)
		mustNil(t, err)
		want := tm.UTC().Truncate(time.Microsecond)
		if !sameTime(s.CreatedAt, want) || s.CreatedAt.Nanosecond()%1000 != 0 {
			t.Fatalf("%v read back as %v (%s), want %v", tm, s.CreatedAt, s.CreatedAt.Location(), want)
		}
	}
	// Times compare as times, not as text: 1 µs apart is enough.
	n, err := db.DeleteExpiredSessions(ctx, time.Date(2026, 1, 1, 21, 34, 5, 999998000, time.UTC))
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("deleted %d sessions, want 2 (1970, 1999)", n)
	}
	n, _ = db.DeleteExpiredSessions(ctx, time.Date(2026, 1, 1, 21, 34, 5, 999999000, time.UTC))
	if n != 1 {
		t.Fatalf("deleted %d sessions at the exact expiry, want 1", n)
	}
}

func testVerbatimText(t *testing.T, db *store.DB) {
	ctx := t.Context()
	nasty := []string{
		`Robert'); DROP TABLE users;--`,
		`"double" and 'single' quotes, back\slash, 100% _under_`,
		"Zoë 🚀 日本語 עברית \u200b zero-width",
		`$1 $2 ? :name @p1`,
	}
	for i, s := range nasty {
		u := &bulwark.User{Username: fmt.Sprintf("user%d", i), DisplayName: s, Email: s, Role: bulwark.RoleViewer}
		mustNil(t, db.CreateUser(ctx, u))
		got := mustGetUser(t, db, u.ID)
		if got.DisplayName != s || got.Email != s {
			t.Fatalf("stored %q, read %q", s, got.DisplayName)
		}
		ev := &bulwark.Event{Type: bulwark.EventAlert, Subject: s, Actor: s, Data: mustJSON(t, map[string]string{"v": s})}
		a := &bulwark.AuditEntry{Actor: s, Action: "test.verbatim", Details: map[string]any{"v": s}}
		record(t, db, ev, a)
		ga, err := db.GetAudit(ctx, a.ID)
		mustNil(t, err)
		if ga.Actor != s || ga.Details["v"] != s {
			t.Fatalf("audit stored %q, read %q / %v", s, ga.Actor, ga.Details["v"])
		}
		p, err := db.ListAudit(ctx, bulwark.AuditFilter{Query: s})
		mustNil(t, err)
		if p.Total != 1 || p.Items[0].ID != a.ID {
			t.Fatalf("query %q found %d entries", s, p.Total)
		}
	}
	p, err := db.ListEvents(ctx, bulwark.EventFilter{})
	mustNil(t, err)
	for i, e := range p.Items {
		s := nasty[len(nasty)-1-i]
		if e.Subject != s || e.Actor != s {
			t.Fatalf("event stored %q, read %q", s, e.Subject)
		}
	}
	// NUL bytes and invalid UTF-8 in attacker-controlled audit text are
	// cleaned (PostgreSQL would refuse them) rather than failing the write.
	a := &bulwark.AuditEntry{Actor: "ev\x00il\xff", Action: "auth.login_failed", UserAgent: "\xc3"}
	record(t, db, &bulwark.Event{Type: bulwark.EventAuth}, a)
	ga, err := db.GetAudit(ctx, a.ID)
	mustNil(t, err)
	if ga.Actor != "evil\uFFFD" || ga.UserAgent != "\uFFFD" {
		t.Fatalf("cleaned actor %q, user agent %q", ga.Actor, ga.UserAgent)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	mustNil(t, err)
	return b
}

func testReadyAndMigrations(t *testing.T, db *store.DB) {
	ctx := t.Context()
	mustNil(t, db.Ready(ctx))
	st, err := db.MigrationStatus(ctx)
	mustNil(t, err)
	if len(st) < 2 || st[0].Version != 1 || st[0].Source != "00001_foundation.sql" || st[1].Source != "00002_policies.sql" {
		t.Fatalf("MigrationStatus = %+v", st)
	}
	for _, s := range st {
		if !s.Applied || s.AppliedAt.IsZero() || time.Since(s.AppliedAt) > time.Hour || time.Until(s.AppliedAt) > time.Hour {
			t.Fatalf("migration not applied or odd time: %+v", s)
		}
	}
	mustNil(t, db.Migrate(ctx)) // idempotent
	pools := db.SQLDBs()
	switch db.Engine() {
	case store.EngineSQLite:
		if pools["writer"] == nil || pools["reader"] == nil || pools["writer"].Stats().MaxOpenConnections != 1 {
			t.Fatalf("sqlite pools: %v", pools)
		}
	case store.EnginePostgres:
		if pools["primary"] == nil || len(pools) != 1 {
			t.Fatalf("postgres pools: %v", pools)
		}
	default:
		t.Fatalf("Engine() = %q", db.Engine())
	}
}

func testContextCancelled(t *testing.T, db *store.DB) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.GetUser(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetUser with cancelled ctx: %v", err)
	}
	if err := db.CreateUser(ctx, &bulwark.User{Username: "x", Role: bulwark.RoleViewer}); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateUser with cancelled ctx: %v", err)
	}
	if err := db.RecordEvent(ctx, &bulwark.Event{Type: bulwark.EventSystem}, nil, []string{"s"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("RecordEvent with cancelled ctx: %v", err)
	}
	if _, err := db.ListAudit(ctx, bulwark.AuditFilter{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("ListAudit with cancelled ctx: %v", err)
	}
	if n, err := db.CountUsers(t.Context()); err != nil || n != 0 {
		t.Fatalf("cancelled create stored a user: %d %v", n, err)
	}
}
