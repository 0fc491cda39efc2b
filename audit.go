package bulwark

import "time"

// Audit results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure" // the action was attempted and failed (bad password, validation)
	ResultDenied  = "denied"  // the actor was not allowed to do it
)

// AuditEntry is one record of who did what, from where, and how it ended.
type AuditEntry struct {
	ID           int64
	Time         time.Time
	ActorID      int64  // 0 when there is no authenticated actor (failed login, system)
	Actor        string // username, "system", or the name tried in a failed login
	Action       string // dotted verb, e.g. "auth.login", "user.create", "token.revoke"
	ResourceType string // "user", "api_token", "settings", "session"
	ResourceID   string
	Result       string
	SourceIP     string
	UserAgent    string
	Details      map[string]any // small, secret-free context (changed fields, reason)
}

// AuditFilter selects audit entries. Zero fields do not filter.
type AuditFilter struct {
	Actor        string
	Action       string // exact, or a prefix ending in "." such as "auth."
	ResourceType string
	ResourceID   string
	Result       string
	Since        time.Time
	Until        time.Time
	Query        string // substring of actor, action, resource id, source IP or details
	Sort         string // one of AuditSorts; "" means newest first
	Limit        int
	Offset       int
}

// AuditSorts are the orders an audit listing can have: a column name for
// ascending, with a leading "-" for descending. Ties go newest first.
var AuditSorts = []string{"-time", "time", "actor", "-actor", "action", "-action", "result", "-result"}

// Page is one page of a listing with the total number of matches.
type Page[T any] struct {
	Items []T
	Total int
}
