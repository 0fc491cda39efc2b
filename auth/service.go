package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
	"golang.org/x/time/rate"
)

// Store is what the auth service needs from storage.
type Store interface {
	bulwark.UserStore
	bulwark.SessionStore
	bulwark.TokenStore
}

// TokenPrefix starts every personal API token, so leaked tokens are easy to
// recognise in code and logs (secret scanners can match "bwk_").
const TokenPrefix = "bwk"

// Policy holds the login and session rules that operators can change at run time.
type Policy struct {
	MaxFailures int           // failures before an account locks
	Lockout     time.Duration // how long it stays locked
	IdleTimeout time.Duration // a session unused this long ends
}

// Service authenticates console users and manages their sessions and tokens.
type Service struct {
	store      Store
	hasher     Hasher
	sessionKey []byte
	maxAge     time.Duration
	now        func() time.Time

	// Per-source-address limit on failed logins, so one client cannot lock
	// out every account or guess across many accounts. Per-account locks
	// live in the database so they hold across replicas and restarts.
	ipMu     sync.Mutex
	ipLimits map[netip.Addr]*ipLimit
}

type ipLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

// Options configure a Service.
type Options struct {
	Hasher        Hasher
	SessionKey    []byte        // keys session ids and CSRF tokens
	SessionMaxAge time.Duration // absolute session lifetime
	Now           func() time.Time
}

// NewService returns an auth service.
func NewService(st Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionMaxAge == 0 {
		o.SessionMaxAge = 12 * time.Hour
	}
	if o.Hasher.Params == (Params{}) {
		o.Hasher.Params = DefaultParams
	}
	return &Service{store: st, hasher: o.Hasher, sessionKey: o.SessionKey, maxAge: o.SessionMaxAge, now: o.Now, ipLimits: map[netip.Addr]*ipLimit{}}
}

// Principal is who is making a request and how they proved it.
type Principal struct {
	User    *bulwark.User
	Session *bulwark.Session  // set for cookie authentication
	Token   *bulwark.APIToken // set for bearer-token authentication
}

// Allows reports whether the principal's role is at least minimum.
func (p *Principal) Allows(minimum bulwark.Role) bool {
	return p != nil && p.User != nil && p.User.Role.AtLeast(minimum)
}

var errBadCredentials = &bulwark.Error{Code: bulwark.CodeUnauthenticated, Message: "invalid username or password"}

// ErrLocked is wrapped by login errors for locked accounts and throttled sources.
var ErrLocked = errors.New("login throttled")

// Login checks a username and password and opens a session. It returns the
// session cookie value (shown once to the browser). Unknown users, wrong
// passwords and disabled accounts give the same error and take the same time.
// The returned user is set whenever the username exists, for the audit log.
func (s *Service) Login(ctx context.Context, username, password string, ip netip.Addr, userAgent string, pol Policy) (*bulwark.User, string, *bulwark.Session, error) {
	now := s.now()
	if wait := s.ipWait(ip, now); wait > 0 {
		return nil, "", nil, throttled(wait)
	}
	u, err := s.store.GetUserByUsername(ctx, bulwark.NormalizeUsername(username))
	if bulwark.IsNotFound(err) {
		s.hasher.DummyVerify(password)
		s.ipFailure(ip, now)
		return nil, "", nil, errBadCredentials
	}
	if err != nil {
		return nil, "", nil, err
	}
	if u.LockedUntil != nil && now.Before(*u.LockedUntil) {
		return u, "", nil, throttled(u.LockedUntil.Sub(now))
	}
	ok, needsRehash, err := s.hasher.Verify(password, u.PasswordHash)
	if err != nil || !ok || u.Disabled {
		s.ipFailure(ip, now)
		if !u.Disabled {
			nu, ferr := s.store.RecordLoginFailure(ctx, u.ID, pol.MaxFailures, now.Add(pol.Lockout))
			if ferr != nil {
				return u, "", nil, ferr
			}
			u = nu
		}
		return u, "", nil, errBadCredentials
	}
	if err := s.store.RecordLoginSuccess(ctx, u.ID, now); err != nil {
		return u, "", nil, err
	}
	u.FailedLogins, u.LockedUntil, u.LastLoginAt = 0, nil, &now
	if needsRehash {
		if h, herr := s.hasher.Hash(password); herr == nil {
			u.PasswordHash = h
			_ = s.store.UpdateUser(ctx, u) // best effort: the old hash still verifies
		}
	}
	token, sess, err := s.openSession(ctx, u.ID, ip, userAgent, now)
	if err != nil {
		return u, "", nil, err
	}
	return u, token, sess, nil
}

func throttled(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &bulwark.Error{Code: bulwark.CodeRateLimited, Message: "too many failed logins; try again later", RetryAfterSeconds: secs, Err: ErrLocked}
}

func (s *Service) openSession(ctx context.Context, userID int64, ip netip.Addr, ua string, now time.Time) (string, *bulwark.Session, error) {
	token, err := NewSessionToken()
	if err != nil {
		return "", nil, err
	}
	if len(ua) > 512 {
		ua = ua[:512]
	}
	sess := &bulwark.Session{
		ID: SessionID(s.sessionKey, token), UserID: userID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.maxAge),
		SourceIP: addrString(ip), UserAgent: ua,
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ipWait returns how long ip must wait before its next login attempt.
func (s *Service) ipWait(ip netip.Addr, now time.Time) time.Duration {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	l := s.ipLimits[ip]
	if l == nil || l.lim.TokensAt(now) >= 1 {
		return 0
	}
	r := l.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// ipFailure spends one token of ip's failure budget: 20 failures at once,
// then one every 3 seconds.
func (s *Service) ipFailure(ip netip.Addr, now time.Time) {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	l := s.ipLimits[ip]
	if l == nil {
		if len(s.ipLimits) > 100_000 { // bound memory under a spray from many addresses
			for k, v := range s.ipLimits {
				if now.Sub(v.seen) > time.Hour {
					delete(s.ipLimits, k)
				}
			}
		}
		l = &ipLimit{lim: rate.NewLimiter(rate.Every(3*time.Second), 20)}
		s.ipLimits[ip] = l
	}
	l.seen = now
	l.lim.AllowN(now, 1)
}

var errSession = &bulwark.Error{Code: bulwark.CodeUnauthenticated, Message: "not signed in or the session has expired; log in again"}
var errToken = &bulwark.Error{Code: bulwark.CodeUnauthenticated, Message: "invalid, expired or revoked API token"}

// SessionFromCookie resolves a session cookie to its user. Expired, idle or
// unknown sessions and disabled users give CodeUnauthenticated.
func (s *Service) SessionFromCookie(ctx context.Context, token string, idle time.Duration) (*Principal, error) {
	if token == "" || len(token) > 128 {
		return nil, errSession
	}
	id := SessionID(s.sessionKey, token)
	sess, err := s.store.GetSession(ctx, id)
	if bulwark.IsNotFound(err) {
		return nil, errSession
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || (idle > 0 && now.Sub(sess.LastSeenAt) > idle) {
		_ = s.store.DeleteSession(ctx, id)
		return nil, errSession
	}
	u, err := s.store.GetUser(ctx, sess.UserID)
	if bulwark.IsNotFound(err) || err == nil && u.Disabled {
		_ = s.store.DeleteSession(ctx, id)
		return nil, errSession
	}
	if err != nil {
		return nil, err
	}
	// Record activity at most once a minute: enough for the idle timeout,
	// without a database write on every request.
	if now.Sub(sess.LastSeenAt) > time.Minute {
		sess.LastSeenAt = now
		if err := s.store.TouchSession(ctx, id, now, sess.ExpiresAt); err != nil {
			return nil, err
		}
	}
	return &Principal{User: u, Session: sess}, nil
}

// PrincipalFromToken resolves a bearer API token.
func (s *Service) PrincipalFromToken(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix+"_") || len(token) > 128 {
		return nil, errToken
	}
	t, err := s.store.GetAPITokenByHash(ctx, TokenHash(token))
	if bulwark.IsNotFound(err) {
		return nil, errToken
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !t.Active(now) {
		return nil, errToken
	}
	u, err := s.store.GetUser(ctx, t.UserID)
	if bulwark.IsNotFound(err) || err == nil && u.Disabled {
		return nil, errToken
	}
	if err != nil {
		return nil, err
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		t.LastUsedAt = &now
		if err := s.store.TouchAPIToken(ctx, t.ID, now); err != nil {
			return nil, err
		}
	}
	return &Principal{User: u, Token: t}, nil
}

// CSRFToken is the token a browser must echo in X-CSRF-Token for the session.
func (s *Service) CSRFToken(sess *bulwark.Session) string { return CSRFToken(s.sessionKey, sess.ID) }

// CheckCSRF verifies a presented CSRF token for the session.
func (s *Service) CheckCSRF(sess *bulwark.Session, presented string) bool {
	return presented != "" && CheckCSRF(s.sessionKey, sess.ID, presented)
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, sess *bulwark.Session) error {
	return s.store.DeleteSession(ctx, sess.ID)
}

// HashPassword validates a new password against the policy and hashes it.
func (s *Service) HashPassword(password, username string) (string, error) {
	if err := bulwark.ValidatePassword(password, username); err != nil {
		return "", err
	}
	return s.hasher.Hash(password)
}

// ChangePassword lets a signed-in user replace their own password. Other
// sessions of the user end; the current one (keepSession) stays.
func (s *Service) ChangePassword(ctx context.Context, u *bulwark.User, current, next, keepSession string) error {
	ok, _, err := s.hasher.Verify(current, u.PasswordHash)
	if err != nil || !ok {
		return bulwark.ValidationError([]bulwark.FieldError{{Field: "current_password", Message: "is not correct"}})
	}
	if current == next {
		return bulwark.ValidationError([]bulwark.FieldError{{Field: "new_password", Message: "must differ from the current password"}})
	}
	return s.SetPassword(ctx, u, next, false, keepSession)
}

// SetPassword sets a user's password (an admin reset passes mustChange) and
// ends the user's other sessions. Policy errors name the field new_password.
func (s *Service) SetPassword(ctx context.Context, u *bulwark.User, password string, mustChange bool, keepSession string) error {
	h, err := s.HashPassword(password, u.Username)
	if err != nil {
		var be *bulwark.Error
		if errors.As(err, &be) && len(be.Fields) > 0 {
			return bulwark.ValidationError([]bulwark.FieldError{{Field: "new_password", Message: be.Fields[0].Message}})
		}
		return err
	}
	now := s.now()
	u.PasswordHash, u.MustChangePassword, u.PasswordChangedAt = h, mustChange, &now
	u.FailedLogins, u.LockedUntil = 0, nil
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return err
	}
	return s.store.DeleteUserSessions(ctx, u.ID, keepSession)
}

// CreateToken issues a personal API token for userID. The token text is
// returned once and only its hash is kept.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string, expiresAt *time.Time) (string, *bulwark.APIToken, error) {
	now := s.now()
	t := &bulwark.APIToken{UserID: userID, Name: strings.TrimSpace(name), ExpiresAt: expiresAt, CreatedAt: now}
	if err := t.Validate(now); err != nil {
		return "", nil, err
	}
	token, err := NewToken(TokenPrefix)
	if err != nil {
		return "", nil, err
	}
	t.Hash, t.Prefix = TokenHash(token), TokenDisplayPrefix(token)
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// Now is the service clock.
func (s *Service) Now() time.Time { return s.now() }
