package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// User is a console account as the API shows it (never the password hash).
type User struct {
	ID                 int64      `json:"id"`
	Username           string     `json:"username"`
	Email              string     `json:"email"`
	DisplayName        string     `json:"display_name"`
	Role               string     `json:"role" enum:"admin,operator,viewer"`
	MustChangePassword bool       `json:"must_change_password"`
	Disabled           bool       `json:"disabled"`
	LockedUntil        *time.Time `json:"locked_until,omitempty" doc:"Set while the account is locked after failed logins"`
	LastLoginAt        *time.Time `json:"last_login_at,omitempty"`
	PasswordChangedAt  *time.Time `json:"password_changed_at,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

func toUser(u *bulwark.User, now time.Time) User {
	out := User{
		ID: u.ID, Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Role: string(u.Role),
		MustChangePassword: u.MustChangePassword, Disabled: u.Disabled, LastLoginAt: u.LastLoginAt,
		PasswordChangedAt: u.PasswordChangedAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	if u.LockedUntil != nil && u.LockedUntil.After(now) {
		out.LockedUntil = u.LockedUntil
	}
	return out
}

type loginInput struct {
	Body struct {
		Username string `json:"username" minLength:"1" maxLength:"64" doc:"Account name"`
		Password string `json:"password" minLength:"1" maxLength:"256" doc:"Password"`
	}
}

type sessionBody struct {
	User       User      `json:"user"`
	AuthMethod string    `json:"auth_method" enum:"session,token" doc:"How this request was authenticated"`
	CSRFToken  string    `json:"csrf_token,omitempty" doc:"Send as X-CSRF-Token on unsafe requests (session authentication only)"`
	ExpiresAt  time.Time `json:"expires_at,omitzero" doc:"When the session or token ends"`
}

type loginOutput struct {
	SetCookie []http.Cookie `header:"Set-Cookie"`
	Body      sessionBody
}

type meOutput struct {
	Body sessionBody
}

type noBodyCookies struct {
	SetCookie []http.Cookie `header:"Set-Cookie"`
}

type changePasswordInput struct {
	Body struct {
		CurrentPassword string `json:"current_password" minLength:"1" maxLength:"256"`
		NewPassword     string `json:"new_password" minLength:"1" maxLength:"256" doc:"At least 12 characters, not based on the username"`
	}
}

func (s *Server) sessionCookies(token, csrf string, expires time.Time) []http.Cookie {
	maxAge := int(expires.Sub(s.o.Auth.Now()).Seconds())
	return []http.Cookie{
		{Name: SessionCookie, Value: token, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: s.o.SecureCookies, SameSite: http.SameSiteStrictMode},
		{Name: CSRFCookie, Value: csrf, Path: "/", MaxAge: maxAge, HttpOnly: false, Secure: s.o.SecureCookies, SameSite: http.SameSiteStrictMode},
	}
}

func (s *Server) clearCookies() []http.Cookie {
	return []http.Cookie{
		{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.o.SecureCookies, SameSite: http.SameSiteStrictMode},
		{Name: CSRFCookie, Value: "", Path: "/", MaxAge: -1, Secure: s.o.SecureCookies, SameSite: http.SameSiteStrictMode},
	}
}

func (s *Server) me(p *auth.Principal) sessionBody {
	b := sessionBody{User: toUser(p.User, s.o.Auth.Now())}
	if p.Session != nil {
		b.AuthMethod, b.CSRFToken, b.ExpiresAt = "session", s.o.Auth.CSRFToken(p.Session), p.Session.ExpiresAt
	} else {
		b.AuthMethod = "token"
		if p.Token != nil && p.Token.ExpiresAt != nil {
			b.ExpiresAt = *p.Token.ExpiresAt
		}
	}
	return b
}

func (s *Server) authRoutes() {
	register(s, huma.Operation{
		OperationID: "auth.login", Method: http.MethodPost, Path: "/auth/login", Tags: []string{"Auth"},
		Summary:     "Log in",
		Description: "Checks the username and password and sets the session cookie (HttpOnly, SameSite=Strict) and the CSRF cookie. Repeated failures lock the account for a while (429 with Retry-After).",
		Errors:      []int{http.StatusUnauthorized, http.StatusTooManyRequests},
	}, public, func(ctx context.Context, _ *auth.Principal, in *loginInput) (*loginOutput, error) {
		m := metaFrom(ctx)
		pol := s.Settings(ctx)
		name := bulwark.NormalizeUsername(in.Body.Username)
		if bulwark.ContainsControl(name) {
			// No account has such a name; refusing it here keeps it out of
			// the database and keeps the audit log from showing a cleaned-up
			// name that was never typed.
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "username", Message: "must not contain control characters"}})
		}
		u, token, sess, err := s.o.Auth.Login(ctx, name, in.Body.Password, m.IP, m.UserAgent, auth.Policy{
			MaxFailures: pol.LoginMaxFailures, Lockout: time.Duration(pol.LoginLockoutMins) * time.Minute,
		})
		var actorID int64
		if u != nil {
			actorID = u.ID
		}
		if err != nil {
			switch bulwark.ErrorCodeOf(err) {
			case bulwark.CodeRateLimited:
				s.o.Metrics.Login("throttled")
				s.audit(ctx, name, actorID, "auth.login", "session", "", bulwark.ResultDenied, map[string]any{"reason": "throttled"})
			case bulwark.CodeUnauthenticated:
				s.o.Metrics.Login("failure")
				reason := "bad credentials"
				if u == nil {
					reason = "unknown user"
				} else if u.Disabled {
					reason = "account disabled"
				}
				s.audit(ctx, name, actorID, "auth.login", "session", "", bulwark.ResultFailure, map[string]any{"reason": reason})
				if u != nil && u.LockedUntil != nil && u.LockedUntil.After(s.o.Auth.Now()) {
					s.audit(ctx, name, actorID, "auth.lockout", "user", strconv.FormatInt(u.ID, 10), bulwark.ResultSuccess,
						map[string]any{"locked_until": u.LockedUntil.UTC().Format(time.RFC3339), "failed_logins": u.FailedLogins})
				}
			}
			return nil, err
		}
		s.o.Metrics.Login("success")
		s.audit(ctx, u.Username, u.ID, "auth.login", "session", "", bulwark.ResultSuccess, nil)
		p := &auth.Principal{User: u, Session: sess}
		return &loginOutput{SetCookie: s.sessionCookies(token, s.o.Auth.CSRFToken(sess), sess.ExpiresAt), Body: s.me(p)}, nil
	})

	register(s, huma.Operation{
		OperationID: "auth.logout", Method: http.MethodPost, Path: "/auth/logout", Tags: []string{"Auth"},
		Summary: "Log out", Description: "Ends the current session and clears the cookies.", DefaultStatus: http.StatusNoContent,
	}, authenticated, func(ctx context.Context, p *auth.Principal, _ *struct{}) (*noBodyCookies, error) {
		if p.Session == nil {
			return nil, bulwark.Errorf(bulwark.CodeInvalid, "API tokens have no session to end; revoke the token instead")
		}
		if err := s.o.Auth.Logout(ctx, p.Session); err != nil && !bulwark.IsNotFound(err) {
			return nil, err
		}
		s.audit(ctx, p.User.Username, p.User.ID, "auth.logout", "session", "", bulwark.ResultSuccess, nil)
		return &noBodyCookies{SetCookie: s.clearCookies()}, nil
	})

	register(s, huma.Operation{
		OperationID: "auth.me", Method: http.MethodGet, Path: "/auth/me", Tags: []string{"Auth"},
		Summary: "Who am I", Description: "The signed-in user, how they authenticated, and the CSRF token for this session.",
	}, authenticated, func(_ context.Context, p *auth.Principal, _ *struct{}) (*meOutput, error) {
		return &meOutput{Body: s.me(p)}, nil
	})

	register(s, huma.Operation{
		OperationID: "auth.change_password", Method: http.MethodPost, Path: "/auth/password", Tags: []string{"Auth"},
		Summary:       "Change my password",
		Description:   "Replaces the caller's password (also when a change is required). Other sessions of the user end.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusUnprocessableEntity},
	}, authenticated, func(ctx context.Context, p *auth.Principal, in *changePasswordInput) (*struct{}, error) {
		if p.Session == nil {
			return nil, bulwark.Errorf(bulwark.CodeForbidden, "change your password from a console session, not with an API token")
		}
		err := s.o.Auth.ChangePassword(ctx, p.User, in.Body.CurrentPassword, in.Body.NewPassword, p.Session.ID)
		if err != nil {
			var be *bulwark.Error
			if errors.As(err, &be) && be.Code == bulwark.CodeUnprocessable {
				s.audit(ctx, p.User.Username, p.User.ID, "auth.password_change", "user", strconv.FormatInt(p.User.ID, 10), bulwark.ResultFailure, map[string]any{"reason": be.Message})
			}
			return nil, err
		}
		s.audit(ctx, p.User.Username, p.User.ID, "auth.password_change", "user", strconv.FormatInt(p.User.ID, 10), bulwark.ResultSuccess, nil)
		return nil, nil
	})
}
