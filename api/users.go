package api

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

type userListOutput struct {
	Body struct {
		Items []User `json:"items"`
		Total int    `json:"total"`
	}
}

type userOutput struct {
	Body User
}

type userCreateInput struct {
	Body struct {
		Username           string `json:"username" minLength:"3" maxLength:"64" doc:"Lower-case letters, digits and . _ - @; stored lower-cased"`
		Email              string `json:"email,omitempty" maxLength:"254"`
		DisplayName        string `json:"display_name,omitempty" maxLength:"128"`
		Role               string `json:"role" enum:"admin,operator,viewer"`
		Password           string `json:"password,omitempty" maxLength:"256" doc:"Initial password; omitted: one is generated and returned once"`
		MustChangePassword *bool  `json:"must_change_password,omitempty" doc:"Require a new password at first login (default true)"`
	}
}

type userCreatedOutput struct {
	Body struct {
		User            User   `json:"user"`
		InitialPassword string `json:"initial_password,omitempty" doc:"Generated password, shown only in this response"`
	}
}

type userIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"User id"`
}

type userUpdateInput struct {
	ID   int64 `path:"id" minimum:"1"`
	Body struct {
		Email              *string `json:"email,omitempty" maxLength:"254"`
		DisplayName        *string `json:"display_name,omitempty" maxLength:"128"`
		Role               *string `json:"role,omitempty" enum:"admin,operator,viewer"`
		Disabled           *bool   `json:"disabled,omitempty" doc:"A disabled user cannot log in; their sessions end and tokens stop working"`
		MustChangePassword *bool   `json:"must_change_password,omitempty"`
		Unlock             bool    `json:"unlock,omitempty" doc:"Clear a lock set after failed logins"`
	}
}

type passwordResetInput struct {
	ID   int64 `path:"id" minimum:"1"`
	Body struct {
		NewPassword string `json:"new_password,omitempty" maxLength:"256" doc:"Omitted: one is generated and returned once"`
	}
}

type passwordResetOutput struct {
	Body struct {
		InitialPassword string `json:"initial_password,omitempty" doc:"Generated password, shown only in this response"`
	}
}

// GeneratePassword returns a random 20-character password from an
// unambiguous alphabet (about 115 bits).
func GeneratePassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	return randomFrom(alphabet, 20)
}

func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		_, _ = rand.Read(buf)
		// Rejection sampling keeps the distribution uniform.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		b[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(b)
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

func (s *Server) userRoutes() {
	tags := []string{"Users"}
	register(s, huma.Operation{
		OperationID: "users.list", Method: http.MethodGet, Path: "/users", Tags: tags, Summary: "List users",
	}, admin, func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*userListOutput, error) {
		us, err := s.o.Store.ListUsers(ctx)
		if err != nil {
			return nil, err
		}
		out := &userListOutput{}
		out.Body.Items = make([]User, 0, len(us))
		now := s.o.Auth.Now()
		for _, u := range us {
			out.Body.Items = append(out.Body.Items, toUser(u, now))
		}
		out.Body.Total = len(us)
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "users.create", Method: http.MethodPost, Path: "/users", Tags: tags, Summary: "Create a user",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, admin, func(ctx context.Context, p *auth.Principal, in *userCreateInput) (*userCreatedOutput, error) {
		u := &bulwark.User{
			Username: bulwark.NormalizeUsername(in.Body.Username), Email: in.Body.Email, DisplayName: in.Body.DisplayName,
			Role: bulwark.Role(in.Body.Role), MustChangePassword: true,
		}
		if in.Body.MustChangePassword != nil {
			u.MustChangePassword = *in.Body.MustChangePassword
		}
		if err := u.Validate(); err != nil {
			return nil, err
		}
		pw, generated := in.Body.Password, false
		if pw == "" {
			pw, generated, u.MustChangePassword = GeneratePassword(), true, true
		}
		h, err := s.o.Auth.HashPassword(pw, u.Username)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = h
		if err := s.o.Store.CreateUser(ctx, u); err != nil {
			if bulwark.IsConflict(err) {
				return nil, &bulwark.Error{Code: bulwark.CodeConflict, Message: "a user named " + strconv.Quote(u.Username) + " already exists",
					Fields: []bulwark.FieldError{{Field: "username", Message: "is already taken"}}}
			}
			return nil, err
		}
		s.audit(ctx, p.User.Username, p.User.ID, "user.create", "user", idString(u.ID), bulwark.ResultSuccess,
			map[string]any{"username": u.Username, "role": u.Role})
		out := &userCreatedOutput{}
		out.Body.User = toUser(u, s.o.Auth.Now())
		if generated {
			out.Body.InitialPassword = pw
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "users.get", Method: http.MethodGet, Path: "/users/{id}", Tags: tags, Summary: "Get a user",
		Description: "Admins may read any user; others only themselves.", Errors: []int{http.StatusNotFound},
	}, viewer, func(ctx context.Context, p *auth.Principal, in *userIDInput) (*userOutput, error) {
		if in.ID != p.User.ID && !p.Allows(bulwark.RoleAdmin) {
			return nil, bulwark.Errorf(bulwark.CodeForbidden, "only admins may read other users")
		}
		u, err := s.o.Store.GetUser(ctx, in.ID)
		if err != nil {
			return nil, userNotFound(err, in.ID)
		}
		return &userOutput{Body: toUser(u, s.o.Auth.Now())}, nil
	})

	register(s, huma.Operation{
		OperationID: "users.update", Method: http.MethodPatch, Path: "/users/{id}", Tags: tags, Summary: "Update a user",
		Description: "Changes only the fields given. Demoting or disabling the last enabled admin is refused (409).",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, admin, func(ctx context.Context, p *auth.Principal, in *userUpdateInput) (*userOutput, error) {
		u, err := s.o.Store.GetUser(ctx, in.ID)
		if err != nil {
			return nil, userNotFound(err, in.ID)
		}
		changed := map[string]any{}
		b := in.Body
		if b.Email != nil && *b.Email != u.Email {
			u.Email, changed["email"] = *b.Email, *b.Email
		}
		if b.DisplayName != nil && *b.DisplayName != u.DisplayName {
			u.DisplayName, changed["display_name"] = *b.DisplayName, *b.DisplayName
		}
		if b.Role != nil && bulwark.Role(*b.Role) != u.Role {
			changed["role"] = map[string]any{"from": u.Role, "to": *b.Role}
			u.Role = bulwark.Role(*b.Role)
		}
		if b.Disabled != nil && *b.Disabled != u.Disabled {
			if *b.Disabled && u.ID == p.User.ID {
				return nil, bulwark.Errorf(bulwark.CodeConflict, "you cannot disable your own account")
			}
			u.Disabled, changed["disabled"] = *b.Disabled, *b.Disabled
		}
		if b.MustChangePassword != nil && *b.MustChangePassword != u.MustChangePassword {
			u.MustChangePassword, changed["must_change_password"] = *b.MustChangePassword, *b.MustChangePassword
		}
		if b.Unlock && (u.LockedUntil != nil || u.FailedLogins > 0) {
			u.LockedUntil, u.FailedLogins, changed["unlocked"] = nil, 0, true
		}
		if err := u.Validate(); err != nil {
			return nil, err
		}
		if len(changed) > 0 {
			if err := s.o.Store.UpdateUser(ctx, u); err != nil {
				return nil, err
			}
			if b.Disabled != nil && *b.Disabled {
				// Sessions end now, so re-enabling later does not revive them.
				if err := s.o.Store.DeleteUserSessions(ctx, u.ID, ""); err != nil {
					return nil, err
				}
			}
			s.audit(ctx, p.User.Username, p.User.ID, "user.update", "user", idString(u.ID), bulwark.ResultSuccess,
				map[string]any{"username": u.Username, "changes": changed})
		}
		return &userOutput{Body: toUser(u, s.o.Auth.Now())}, nil
	})

	register(s, huma.Operation{
		OperationID: "users.delete", Method: http.MethodDelete, Path: "/users/{id}", Tags: tags, Summary: "Delete a user",
		Description:   "Deletes the user with their sessions and API tokens. Deleting yourself or the last enabled admin is refused (409).",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, admin, func(ctx context.Context, p *auth.Principal, in *userIDInput) (*struct{}, error) {
		if in.ID == p.User.ID {
			return nil, bulwark.Errorf(bulwark.CodeConflict, "you cannot delete your own account")
		}
		u, err := s.o.Store.GetUser(ctx, in.ID)
		if err != nil {
			return nil, userNotFound(err, in.ID)
		}
		if err := s.o.Store.DeleteUser(ctx, in.ID); err != nil {
			return nil, userNotFound(err, in.ID)
		}
		s.audit(ctx, p.User.Username, p.User.ID, "user.delete", "user", idString(in.ID), bulwark.ResultSuccess,
			map[string]any{"username": u.Username, "role": u.Role})
		return nil, nil
	})

	register(s, huma.Operation{
		OperationID: "users.reset_password", Method: http.MethodPost, Path: "/users/{id}/password", Tags: tags,
		Summary:     "Reset a user's password",
		Description: "Sets a new password that the user must change at next login, ends their sessions and clears any lock.",
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, admin, func(ctx context.Context, p *auth.Principal, in *passwordResetInput) (*passwordResetOutput, error) {
		u, err := s.o.Store.GetUser(ctx, in.ID)
		if err != nil {
			return nil, userNotFound(err, in.ID)
		}
		pw, generated := in.Body.NewPassword, false
		if pw == "" {
			pw, generated = GeneratePassword(), true
		}
		if err := s.o.Auth.SetPassword(ctx, u, pw, true, ""); err != nil {
			return nil, err
		}
		s.audit(ctx, p.User.Username, p.User.ID, "user.password_reset", "user", idString(u.ID), bulwark.ResultSuccess,
			map[string]any{"username": u.Username, "generated": generated})
		out := &passwordResetOutput{}
		if generated {
			out.Body.InitialPassword = pw
		}
		return out, nil
	})
}

func userNotFound(err error, id int64) error {
	if bulwark.IsNotFound(err) {
		return bulwark.Errorf(bulwark.CodeNotFound, "no user with id %d", id)
	}
	return err
}
