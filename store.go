package bulwark

import (
	"context"
	"encoding/json"
	"time"
)

// UserStore keeps admin-console accounts. Usernames are unique
// (CreateUser/UpdateUser return ErrConflict), lookups return ErrNotFound.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error // sets ID, CreatedAt, UpdatedAt
	GetUser(ctx context.Context, id int64) (*User, error)
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error) // ordered by username
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser writes every field but ID and CreatedAt. It refuses with a
	// CodeConflict *Error when the change would leave no enabled admin.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user with its sessions and API tokens. It refuses
	// with a CodeConflict *Error when that would leave no enabled admin.
	DeleteUser(ctx context.Context, id int64) error
	// RecordLoginFailure atomically increments the failure counter and, when
	// it reaches maxFailures, sets LockedUntil to lockUntil. It returns the
	// updated user.
	RecordLoginFailure(ctx context.Context, id int64, maxFailures int, lockUntil time.Time) (*User, error)
	// RecordLoginSuccess clears failures and the lock and sets LastLoginAt.
	RecordLoginSuccess(ctx context.Context, id int64, at time.Time) error
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends all of a user's sessions except keepID (may be "").
	DeleteUserSessions(ctx context.Context, userID int64, keepID string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// TokenStore keeps personal API tokens.
type TokenStore interface {
	CreateAPIToken(ctx context.Context, t *APIToken) error // sets ID
	GetAPIToken(ctx context.Context, id int64) (*APIToken, error)
	GetAPITokenByHash(ctx context.Context, hash string) (*APIToken, error)
	// ListAPITokens lists a user's tokens, or everyone's when userID is 0, newest first.
	ListAPITokens(ctx context.Context, userID int64) ([]*APIToken, error)
	RevokeAPIToken(ctx context.Context, id int64, at time.Time) error
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error
}

// AuditStore reads the audit log. Entries are written with RecordEvent so
// the audit record and its event are stored together.
type AuditStore interface {
	ListAudit(ctx context.Context, f AuditFilter) (Page[AuditEntry], error) // newest first
	GetAudit(ctx context.Context, id int64) (*AuditEntry, error)
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)
}

// SettingStore keeps instance settings as JSON values by key.
type SettingStore interface {
	GetSettings(ctx context.Context) (map[string]json.RawMessage, error)
	// PutSettings upserts the given keys in one transaction.
	PutSettings(ctx context.Context, values map[string]json.RawMessage, updatedBy string, at time.Time) error
}

// EventRecord is one event to store with its audit entry (may be nil)
// and the sinks that get an outbox row for it.
type EventRecord struct {
	Event *Event
	Audit *AuditEntry
	Sinks []string
}

// EventStore is the durable half of the event path.
type EventStore interface {
	// RecordEvent stores ev, the audit entry when not nil, and one outbox row
	// per sink name, in a single transaction: either all are stored or none.
	RecordEvent(ctx context.Context, ev *Event, audit *AuditEntry, sinks []string) error
	// RecordEvents stores several events as RecordEvent does, in one
	// transaction.
	RecordEvents(ctx context.Context, recs []EventRecord) error
	ListEvents(ctx context.Context, f EventFilter) (Page[Event], error) // newest first
	// ClaimOutbox leases up to limit due items of sink, oldest first, so that
	// no other worker claims them until lease has passed.
	ClaimOutbox(ctx context.Context, sink string, limit int, now time.Time, lease time.Duration) ([]OutboxItem, error)
	CompleteOutbox(ctx context.Context, ids []int64) error
	RetryOutbox(ctx context.Context, id int64, next time.Time, lastErr string) error
	DeadLetterOutbox(ctx context.Context, id int64, lastErr string) error
	OutboxDepth(ctx context.Context, sink string) (int, error) // pending, not dead-lettered
}

// Store is everything the program keeps.
type Store interface {
	UserStore
	SessionStore
	TokenStore
	AuditStore
	SettingStore
	EventStore
	GatewayStore
	MCPToolStore
	AlertStore
	// Ready reports whether the database answers and migrations are applied.
	Ready(ctx context.Context) error
	Close() error
}
