package bulwark

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRoles(t *testing.T) {
	cases := []struct {
		r, min Role
		want   bool
	}{
		{RoleAdmin, RoleAdmin, true}, {RoleAdmin, RoleViewer, true}, {RoleOperator, RoleAdmin, false},
		{RoleOperator, RoleOperator, true}, {RoleViewer, RoleOperator, false}, {Role("root"), RoleViewer, false},
		{Role(""), RoleViewer, false},
	}
	for _, c := range cases {
		if got := c.r.AtLeast(c.min); got != c.want {
			t.Errorf("%q.AtLeast(%q) = %v", c.r, c.min, got)
		}
	}
}

func TestUserValidate(t *testing.T) {
	ok := User{Username: "alice", Role: RoleViewer, Email: "alice@example.com", DisplayName: "Alice Ünïcode"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*User)
		field string
	}{
		{"short name", func(u *User) { u.Username = "al" }, "username"},
		{"long name", func(u *User) { u.Username = strings.Repeat("a", 65) }, "username"},
		{"upper case", func(u *User) { u.Username = "Alice" }, "username"},
		{"sql", func(u *User) { u.Username = "admin'--" }, "username"},
		{"leading dot", func(u *User) { u.Username = ".alice" }, "username"},
		{"email", func(u *User) { u.Email = "not-an-email" }, "email"},
		{"email spaces", func(u *User) { u.Email = "a b@c.d" }, "email"},
		{"email long", func(u *User) { u.Email = strings.Repeat("a", 250) + "@x.io" }, "email"},
		{"display newline", func(u *User) { u.DisplayName = "a\nb" }, "display_name"},
		{"display long", func(u *User) { u.DisplayName = strings.Repeat("é", 129) }, "display_name"},
		{"role", func(u *User) { u.Role = "root" }, "role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := ok
			c.edit(&u)
			err := u.Validate()
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeUnprocessable || len(e.Fields) == 0 || e.Fields[0].Field != c.field {
				t.Fatalf("want a validation error on %s, got %v", c.field, err)
			}
		})
	}
}

func TestValidatePassword(t *testing.T) {
	good := []string{"correct horse battery", "Tr0ub4dor&3xyz", strings.Repeat("ab", 40)}
	for _, p := range good {
		if err := ValidatePassword(p, "alice"); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	bad := map[string]string{
		"":                        "at least 12",
		"short":                   "at least 12",
		"aaaaaaaaaaaaaaaa":        "too easy",
		"Password1234":            "too easy",
		"alice":                   "at least 12",
		"alicealice12":            "username",
		strings.Repeat("x", 257):  "256",
		"valid\xffpassword-bytes": "UTF-8",
	}
	for p, want := range bad {
		err := ValidatePassword(p, "alice")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want mention of %q", p, err, want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	s := DefaultSettings()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, edit := range map[string]func(*Settings){
		"audit_retention_days":  func(s *Settings) { s.AuditRetentionDays = -1 },
		"session_idle_minutes":  func(s *Settings) { s.SessionIdleMinutes = 1 },
		"login_max_failures":    func(s *Settings) { s.LoginMaxFailures = 0 },
		"login_lockout_minutes": func(s *Settings) { s.LoginLockoutMins = 100000 },
		"organization_name":     func(s *Settings) { s.OrganizationName = "a\r\nb" },
	} {
		s := DefaultSettings()
		edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestTokenValidateAndActive(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	if err := (&APIToken{Name: "ci", ExpiresAt: &future}).Validate(now); err != nil {
		t.Fatal(err)
	}
	if err := (&APIToken{Name: " "}).Validate(now); err == nil {
		t.Fatal("blank name accepted")
	}
	if err := (&APIToken{Name: "x", ExpiresAt: &past}).Validate(now); err == nil {
		t.Fatal("past expiry accepted")
	}
	if (&APIToken{ExpiresAt: &past}).Active(now) || (&APIToken{RevokedAt: &past}).Active(now) || !(&APIToken{}).Active(now) {
		t.Fatal("Active wrong")
	}
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Errorf(CodeConflict, "dup %s", "x"))
	if !IsConflict(err) || IsNotFound(err) || ErrorCodeOf(errors.New("plain")) != CodeInternal {
		t.Fatal("error codes")
	}
	if ValidationError(nil) != nil {
		t.Fatal("no fields must give nil")
	}
	e := ValidationError([]FieldError{{"a", "bad"}, {"b", "worse"}})
	if !strings.Contains(e.Error(), "a: bad (and 1 more)") {
		t.Fatal(e)
	}
	if SeverityCritical.Rank() <= SeverityHigh.Rank() || Severity("x").Valid() {
		t.Fatal("severity order")
	}
}
