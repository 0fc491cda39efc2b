package bulwark

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Role is an admin-console role. Roles are ordered: admin ⊃ operator ⊃ viewer.
type Role string

// The three roles.
const (
	RoleAdmin    Role = "admin"    // everything, including users and settings
	RoleOperator Role = "operator" // runs the gateway: proxies, policies, alerts, own API tokens
	RoleViewer   Role = "viewer"   // read-only
)

// Roles lists every role, most privileged first.
var Roles = []Role{RoleAdmin, RoleOperator, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleOperator, RoleViewer:
		return true
	}
	return false
}

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleOperator:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// AtLeast reports whether r grants at least the privileges of min.
func (r Role) AtLeast(minimum Role) bool { return r.Valid() && r.rank() >= minimum.rank() }

// User is an admin-console account.
type User struct {
	ID                 int64
	Username           string
	Email              string
	DisplayName        string
	Role               Role
	PasswordHash       string // argon2id PHC string; never serialised to clients
	MustChangePassword bool
	Disabled           bool
	FailedLogins       int
	LockedUntil        *time.Time
	LastLoginAt        *time.Time
	PasswordChangedAt  *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Limits on user fields.
const (
	MaxUsernameLen    = 64
	MaxEmailLen       = 254
	MaxDisplayNameLen = 128
	MinPasswordLen    = 12
	MaxPasswordLen    = 256 // bounds the cost of hashing attacker-supplied input
)

// NormalizeUsername lower-cases and trims a username so lookups are case-insensitive.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Validate checks the fields a client can set. Username must already be normalised.
func (u *User) Validate() error {
	var fe []FieldError
	if msg := usernameProblem(u.Username); msg != "" {
		fe = append(fe, FieldError{"username", msg})
	}
	if u.Email != "" {
		if len(u.Email) > MaxEmailLen {
			fe = append(fe, FieldError{"email", "must be at most 254 characters"})
		} else if at := strings.IndexByte(u.Email, '@'); at < 1 || at == len(u.Email)-1 || strings.ContainsAny(u.Email, " <>\"") || hasControl(u.Email) {
			fe = append(fe, FieldError{"email", "must be an e-mail address like name@example.com"})
		}
	}
	if utf8.RuneCountInString(u.DisplayName) > MaxDisplayNameLen || hasControl(u.DisplayName) {
		fe = append(fe, FieldError{"display_name", "must be at most 128 characters of valid text on one line"})
	}
	if !u.Role.Valid() {
		fe = append(fe, FieldError{"role", "must be one of admin, operator, viewer"})
	}
	return ValidationError(fe)
}

func usernameProblem(s string) string {
	if len(s) < 3 || len(s) > MaxUsernameLen {
		return "must be 3 to 64 characters"
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return "must start with a lower-case letter or digit"
		}
		if !alnum && c != '.' && c != '_' && c != '-' && c != '@' {
			return "may contain only lower-case letters, digits and . _ - @"
		}
	}
	return ""
}

// commonPasswords are refused outright; the length rule catches most others.
var commonPasswords = map[string]bool{
	"password1234": true, "passwordpassword": true, "123456789012": true, "qwertyuiopas": true,
	"changeme1234": true, "administrator": true, "letmeinletmein": true, "iloveyou1234": true,
	"welcome12345": true, "password123!": true, "admin1234567": true, "bulwarkbulwark": true,
}

// ValidatePassword enforces the password policy for a new password.
func ValidatePassword(password, username string) error {
	n := utf8.RuneCountInString(password)
	var msg string
	switch {
	case !utf8.ValidString(password):
		msg = "must be valid UTF-8 text"
	case n < MinPasswordLen:
		msg = "must be at least 12 characters"
	case len(password) > MaxPasswordLen:
		msg = "must be at most 256 bytes"
	case basedOn(password, username):
		msg = "must not be based on the username"
	case commonPasswords[strings.ToLower(password)] || allSame(password):
		msg = "is too easy to guess; choose a longer passphrase"
	}
	if msg == "" {
		return nil
	}
	return ValidationError([]FieldError{{"password", msg}})
}

// basedOn reports whether password is little more than the username: what
// remains after removing every copy of it is shorter than 8 characters.
func basedOn(password, username string) bool {
	if len(username) < 3 {
		return false
	}
	rest := strings.ReplaceAll(strings.ToLower(password), strings.ToLower(username), "")
	return rest != strings.ToLower(password) && utf8.RuneCountInString(rest) < 8
}

// ContainsControl reports invalid UTF-8 or any control character in s.
func ContainsControl(s string) bool { return hasControl(s) }

// hasControl reports invalid UTF-8 or any control character.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

func allSame(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			return false
		}
	}
	return true
}

// Session is a logged-in browser session. ID is a keyed hash of the cookie
// value, so a database dump does not yield usable cookies.
type Session struct {
	ID         string
	UserID     int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
	SourceIP   string
	UserAgent  string
}

// APIToken is a personal access token for automation. Only its hash is stored.
type APIToken struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string // first characters of the token, shown so users can tell tokens apart
	Hash       string // SHA-256 of the whole token, hex
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// MaxTokenNameLen bounds an API token's name.
const MaxTokenNameLen = 100

// Validate checks the client-settable fields of a token.
func (t *APIToken) Validate(now time.Time) error {
	var fe []FieldError
	name := strings.TrimSpace(t.Name)
	if name == "" || utf8.RuneCountInString(name) > MaxTokenNameLen || hasControl(name) {
		fe = append(fe, FieldError{"name", "must be 1 to 100 characters on one line"})
	}
	if t.ExpiresAt != nil && !t.ExpiresAt.After(now) {
		fe = append(fe, FieldError{"expires_at", "must be in the future"})
	}
	return ValidationError(fe)
}

// Active reports whether the token can authenticate at time now.
func (t *APIToken) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}
