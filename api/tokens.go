package api

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// APIToken is a personal API token as the API shows it (never the secret).
type APIToken struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Username   string     `json:"username,omitempty"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix" doc:"First characters of the token, to tell tokens apart"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Active     bool       `json:"active"`
}

func toToken(t *bulwark.APIToken, username string, now time.Time) APIToken {
	return APIToken{ID: t.ID, UserID: t.UserID, Username: username, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, Active: t.Active(now)}
}

type tokenListInput struct {
	All bool `query:"all" doc:"Admins only: list every user's tokens"`
}

type tokenListOutput struct {
	Body struct {
		Items []APIToken `json:"items"`
		Total int        `json:"total"`
	}
}

type tokenCreateInput struct {
	Body struct {
		Name          string     `json:"name" minLength:"1" maxLength:"100" doc:"What the token is for"`
		ExpiresAt     *time.Time `json:"expires_at,omitempty" doc:"When the token stops working (RFC 3339)"`
		ExpiresInDays int        `json:"expires_in_days,omitempty" minimum:"0" maximum:"3650" doc:"Alternative to expires_at; 0 or omitted with no expires_at means no expiry"`
	}
}

type tokenCreatedOutput struct {
	Body struct {
		Token    string   `json:"token" doc:"The secret token, shown only in this response; send it as Authorization: Bearer <token>"`
		APIToken APIToken `json:"api_token"`
	}
}

type tokenIDInput struct {
	ID int64 `path:"id" minimum:"1"`
}

func (s *Server) tokenRoutes() {
	tags := []string{"API tokens"}
	register(s, huma.Operation{
		OperationID: "tokens.list", Method: http.MethodGet, Path: "/tokens", Tags: tags, Summary: "List API tokens",
		Description: "The caller's own tokens, or every user's with all=true (admins).",
	}, viewer, func(ctx context.Context, p *auth.Principal, in *tokenListInput) (*tokenListOutput, error) {
		uid := p.User.ID
		if in.All {
			if !p.Allows(bulwark.RoleAdmin) {
				return nil, bulwark.Errorf(bulwark.CodeForbidden, "only admins may list every user's tokens")
			}
			uid = 0
		}
		ts, err := s.o.Store.ListAPITokens(ctx, uid)
		if err != nil {
			return nil, err
		}
		names := map[int64]string{p.User.ID: p.User.Username}
		if in.All {
			us, err := s.o.Store.ListUsers(ctx)
			if err != nil {
				return nil, err
			}
			for _, u := range us {
				names[u.ID] = u.Username
			}
		}
		out := &tokenListOutput{}
		out.Body.Items = make([]APIToken, 0, len(ts))
		now := s.o.Auth.Now()
		for _, t := range ts {
			out.Body.Items = append(out.Body.Items, toToken(t, names[t.UserID], now))
		}
		out.Body.Total = len(ts)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "tokens.create", Method: http.MethodPost, Path: "/tokens", Tags: tags, Summary: "Create an API token",
		Description:   "Issues a personal API token with the caller's role. The token is shown once; only its hash is stored.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusUnprocessableEntity},
	}, operator, func(ctx context.Context, p *auth.Principal, in *tokenCreateInput) (*tokenCreatedOutput, error) {
		exp := in.Body.ExpiresAt
		if exp != nil && in.Body.ExpiresInDays > 0 {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "expires_in_days", Message: "give expires_at or expires_in_days, not both"}})
		}
		if in.Body.ExpiresInDays > 0 {
			t := s.o.Auth.Now().Add(time.Duration(in.Body.ExpiresInDays) * 24 * time.Hour)
			exp = &t
		}
		tok, t, err := s.o.Auth.CreateToken(ctx, p.User.ID, in.Body.Name, exp)
		if err != nil {
			return nil, err
		}
		details := map[string]any{"name": t.Name, "prefix": t.Prefix}
		if t.ExpiresAt != nil {
			details["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
		}
		s.audit(ctx, p.User.Username, p.User.ID, "token.create", "api_token", idString(t.ID), bulwark.ResultSuccess, details)
		out := &tokenCreatedOutput{}
		out.Body.Token, out.Body.APIToken = tok, toToken(t, p.User.Username, s.o.Auth.Now())
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "tokens.revoke", Method: http.MethodDelete, Path: "/tokens/{id}", Tags: tags, Summary: "Revoke an API token",
		Description:   "Revokes one of the caller's tokens (admins: anyone's). Revoking twice is harmless.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, operator, func(ctx context.Context, p *auth.Principal, in *tokenIDInput) (*struct{}, error) {
		t, err := s.o.Store.GetAPIToken(ctx, in.ID)
		if err != nil || (t.UserID != p.User.ID && !p.Allows(bulwark.RoleAdmin)) {
			if err == nil || bulwark.IsNotFound(err) {
				// Someone else's token looks the same as a missing one.
				return nil, bulwark.Errorf(bulwark.CodeNotFound, "no API token with id %d", in.ID)
			}
			return nil, err
		}
		if t.RevokedAt != nil {
			return nil, nil
		}
		if err := s.o.Store.RevokeAPIToken(ctx, t.ID, s.o.Auth.Now()); err != nil {
			return nil, err
		}
		s.audit(ctx, p.User.Username, p.User.ID, "token.revoke", "api_token", idString(t.ID), bulwark.ResultSuccess,
			map[string]any{"name": t.Name, "prefix": t.Prefix, "owner_id": t.UserID})
		return nil, nil
	})
}
