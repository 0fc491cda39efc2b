package api_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

func TestUsers(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"CRUD", testUserCRUD},
			{"Duplicate", testUserDuplicate},
			{"Invalid", testUserInvalid},
			{"GeneratedPassword", testUserGeneratedPassword},
			{"PatchOnlyGivenFields", testUserPatchPartial},
			{"LastAdmin", testLastAdmin},
			{"NotFound", testUserNotFound},
			{"PasswordReset", testPasswordReset},
			{"Unlock", testUnlock},
			{"ConcurrentDemotion", testConcurrentDemotion},
		})
	})
}

func testUserCRUD(t *testing.T, f *fixture) {
	pw := "Alice-initial-passphrase-1"
	f.secret(pw)
	r := f.admin.do("POST", "/users", map[string]any{
		"username": "  Alice ", "email": "alice@example.com", "display_name": "Alice Liddell", "role": "operator",
		"password": pw, "must_change_password": false,
	}).want(t, 201)
	id := r.num("user", "id")
	if r.str("user", "username") != "alice" || r.str("user", "role") != "operator" || r.str("user", "email") != "alice@example.com" ||
		r.get("user", "must_change_password") != false || r.get("user", "disabled") != false || r.get("initial_password") != nil {
		t.Errorf("create: %s", r.Raw)
	}
	got := f.admin.do("GET", idPath("/users/%d", id), nil).want(t, 200)
	if got.str("username") != "alice" || got.str("display_name") != "Alice Liddell" {
		t.Errorf("get: %s", got.Raw)
	}
	list := f.admin.do("GET", "/users", nil).want(t, 200)
	names := []string{}
	for _, it := range list.list("items") {
		names = append(names, it.(map[string]any)["username"].(string))
	}
	if strings.Join(names, ",") != "admin,alice,otto,vera" || list.num("total") != 4 {
		t.Errorf("list (ordered by username): %v total %d", names, list.num("total"))
	}
	// The new user can log in with the given password and use their role.
	f.setPassword("alice", pw)
	f.login("alice", pw).do("POST", "/tokens", map[string]any{"name": "alice"}).want(t, 201)
	f.admin.do("PATCH", idPath("/users/%d", id), map[string]any{"role": "viewer", "email": ""}).want(t, 200)
	if u := f.user(id); u.Role != bulwark.RoleViewer || u.Email != "" {
		t.Errorf("patch: %+v", u)
	}
	f.admin.do("DELETE", idPath("/users/%d", id), nil).want(t, 204)
	f.admin.do("GET", idPath("/users/%d", id), nil).wantErr(t, 404, "not_found")
	f.admin.do("DELETE", idPath("/users/%d", id), nil).wantErr(t, 404, "not_found")
	f.anon().do("POST", "/auth/login", loginBody("alice", pw)).wantErr(t, 401, "unauthenticated")
	if toks, _ := f.db.ListAPITokens(t.Context(), id); len(toks) != 0 {
		t.Errorf("deleting a user must delete their tokens: %d left", len(toks))
	}
}

func testUserDuplicate(t *testing.T, f *fixture) {
	for _, name := range []string{"vera", "VERA", " Vera ", "admin"} {
		f.admin.do("POST", "/users", map[string]any{"username": name, "role": "viewer"}).wantErr(t, 409, "conflict", "username")
	}
	if n, _ := f.db.CountUsers(t.Context()); n != 3 {
		t.Errorf("users: %d, want 3", n)
	}
}

func testUserInvalid(t *testing.T, f *fixture) {
	cases := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"username": "bob", "role": "root"}, "role"},
		{map[string]any{"username": "bob", "role": ""}, "role"},
		{map[string]any{"username": "bob", "role": "Admin"}, "role"},
		{map[string]any{"username": "-bob", "role": "viewer"}, "username"},
		{map[string]any{"username": "bob smith", "role": "viewer"}, "username"},
		{map[string]any{"username": "bö", "role": "viewer"}, "username"},
		{map[string]any{"username": "bob!", "role": "viewer"}, "username"},
		{map[string]any{"username": "ab", "role": "viewer"}, "username"},
		{map[string]any{"username": strings.Repeat("b", 65), "role": "viewer"}, "username"},
		{map[string]any{"username": "bob", "role": "viewer", "email": "not-an-email"}, "email"},
		{map[string]any{"username": "bob", "role": "viewer", "email": "@example.com"}, "email"},
		{map[string]any{"username": "bob", "role": "viewer", "email": "bob@"}, "email"},
		{map[string]any{"username": "bob", "role": "viewer", "email": "bob <b@example.com>"}, "email"},
		{map[string]any{"username": "bob", "role": "viewer", "email": strings.Repeat("b", 250) + "@x.io"}, "email"},
		{map[string]any{"username": "bob", "role": "viewer", "display_name": "two\nlines"}, "display_name"},
		{map[string]any{"username": "bob", "role": "viewer", "display_name": strings.Repeat("é", 129)}, "display_name"},
		{map[string]any{"username": "bob", "role": "viewer", "password": "short"}, "password"},
		{map[string]any{"username": "bob", "role": "viewer", "password": "password1234"}, "password"},
		{map[string]any{"username": "bob", "role": "viewer", "password": strings.Repeat("ab", 128) + "c"}, "password"},
		{map[string]any{"username": "bob", "role": "viewer", "password": strings.Repeat("é", 129)}, "password"}, // 258 bytes
	}
	for _, c := range cases {
		r := f.admin.do("POST", "/users", c.body)
		if r.Status != 422 || r.code() != "validation_failed" || !containsStr(r.fields(), c.field) {
			t.Errorf("create %v: status %d fields %v, want 422 naming %s: %s", c.body, r.Status, r.fields(), c.field, r.Raw)
		}
	}
	vera := f.users[bulwark.RoleViewer]
	for body, field := range map[string]string{
		`{"role":"superuser"}`:        "role",
		`{"email":"nope"}`:            "email",
		`{"display_name":"a\u0000b"}`: "display_name",
		`{"disabled":"yes"}`:          "disabled",
		`{"username":"renamed"}`:      "username", // not changeable: unknown field
		`{"failed_logins":0}`:         "failed_logins",
	} {
		r := f.admin.do("PATCH", idPath("/users/%d", vera.ID), raw(body))
		if r.Status != 422 || !containsStr(r.fields(), field) {
			t.Errorf("patch %s: status %d fields %v, want 422 naming %s", body, r.Status, r.fields(), field)
		}
	}
	if n, _ := f.db.CountUsers(t.Context()); n != 3 {
		t.Errorf("users: %d, want 3", n)
	}
	if u := f.user(vera.ID); u.Role != bulwark.RoleViewer || u.Email != "" || u.Username != "vera" || u.DisplayName != "Test vera" {
		t.Errorf("invalid patches changed vera: %+v", u)
	}
	// The longest valid values are accepted.
	f.admin.do("POST", "/users", map[string]any{
		"username": strings.Repeat("b", 64), "role": "viewer", "display_name": strings.Repeat("é", 128),
		"email": strings.Repeat("b", 240) + "@example.com", "password": strings.Repeat("é", 128),
	}).want(t, 201)
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func testUserGeneratedPassword(t *testing.T, f *fixture) {
	// must_change_password false is overridden for a generated password.
	r := f.admin.do("POST", "/users", map[string]any{"username": "gen", "role": "viewer", "must_change_password": false}).want(t, 201)
	pw := r.str("initial_password")
	if len(pw) != 20 || r.get("user", "must_change_password") != true {
		t.Fatalf("generated password: %s", r.Raw)
	}
	f.setPassword("gen", pw) // from now on no response may contain it
	id := r.num("user", "id")
	f.admin.do("GET", idPath("/users/%d", id), nil).want(t, 200)
	f.admin.do("GET", "/users", nil).want(t, 200)
	f.admin.do("GET", "/audit?limit=500", nil).want(t, 200)
	c := f.login("gen", pw)
	c.do("GET", "/audit", nil).wantErr(t, 403, "password_change_required")
	c.do("POST", "/auth/password", map[string]any{"current_password": pw, "new_password": "Gen-chosen-passphrase-77"}).want(t, 204)
	f.setPassword("gen", "Gen-chosen-passphrase-77")
	c.do("GET", "/audit", nil).want(t, 200)
	// Two generated passwords differ.
	r2 := f.admin.do("POST", "/users", map[string]any{"username": "gen2", "role": "viewer"}).want(t, 201)
	if r2.str("initial_password") == pw || r2.str("initial_password") == "" {
		t.Errorf("generated passwords must be random")
	}
}

func testUserPatchPartial(t *testing.T, f *fixture) {
	otto := f.users[bulwark.RoleOperator]
	f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{"email": "otto@example.com", "display_name": "Otto"}).want(t, 200)
	before := f.user(otto.ID)
	r := f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{"display_name": "Otto Second"}).want(t, 200)
	after := f.user(otto.ID)
	if after.DisplayName != "Otto Second" || after.Email != before.Email || after.Role != before.Role || after.Disabled ||
		after.MustChangePassword != before.MustChangePassword || after.PasswordHash != before.PasswordHash {
		t.Errorf("patch changed more than display_name: before %+v after %+v", before, after)
	}
	if r.str("display_name") != "Otto Second" || r.str("email") != "otto@example.com" {
		t.Errorf("patch response: %s", r.Raw)
	}
	// An empty patch and a patch to the same values change nothing and write no audit row.
	mark := f.auditMark()
	f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{}).want(t, 200)
	f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{"display_name": "Otto Second", "role": "operator"}).want(t, 200)
	if rows := f.auditAfter(mark); len(rows) != 0 {
		t.Errorf("no-op patches wrote audit rows: %+v", rows)
	}
	// must_change_password can be set by an admin, and takes effect.
	c := f.loginAs(otto)
	f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{"must_change_password": true}).want(t, 200)
	c.do("GET", "/tokens", nil).wantErr(t, 403, "password_change_required")
}

func testLastAdmin(t *testing.T, f *fixture) {
	admin := f.adminUser
	before := f.user(admin.ID)
	f.admin.do("PATCH", idPath("/users/%d", admin.ID), map[string]any{"role": "operator"}).wantErr(t, 409, "conflict")
	f.admin.do("PATCH", idPath("/users/%d", admin.ID), map[string]any{"role": "viewer", "display_name": "Changed"}).wantErr(t, 409, "conflict")
	f.admin.do("PATCH", idPath("/users/%d", admin.ID), map[string]any{"disabled": true}).wantErr(t, 409, "conflict")
	f.admin.do("DELETE", idPath("/users/%d", admin.ID), nil).wantErr(t, 409, "conflict")
	tok := f.tokenClient(admin)
	tok.do("DELETE", idPath("/users/%d", admin.ID), nil).wantErr(t, 409, "conflict")
	tok.do("PATCH", idPath("/users/%d", admin.ID), map[string]any{"disabled": true}).wantErr(t, 409, "conflict")
	after := f.user(admin.ID)
	if after.Role != bulwark.RoleAdmin || after.Disabled || after.DisplayName != before.DisplayName {
		t.Errorf("refused changes changed the admin: %+v", after)
	}
	f.admin.do("GET", "/users", nil).want(t, 200)

	// A disabled second admin does not count.
	r := f.admin.do("POST", "/users", map[string]any{"username": "admin2", "role": "admin", "password": "Admin2-passphrase-xyz", "must_change_password": false}).want(t, 201)
	f.setPassword("admin2", "Admin2-passphrase-xyz")
	id2 := r.num("user", "id")
	f.admin.do("PATCH", idPath("/users/%d", id2), map[string]any{"disabled": true}).want(t, 200)
	f.admin.do("PATCH", idPath("/users/%d", admin.ID), map[string]any{"role": "operator"}).wantErr(t, 409, "conflict")
	// With another enabled admin, demoting oneself works; deleting oneself never does.
	f.admin.do("PATCH", idPath("/users/%d", id2), map[string]any{"disabled": false}).want(t, 200)
	a2 := f.login("admin2", "Admin2-passphrase-xyz")
	a2.do("DELETE", idPath("/users/%d", id2), nil).wantErr(t, 409, "conflict")
	f.admin.do("PATCH", idPath("/users/%d", admin.ID), map[string]any{"role": "operator"}).want(t, 200)
	f.admin.do("GET", "/users", nil).wantErr(t, 403, "forbidden") // the role change applies at once
	// Now admin2 is the last admin.
	a2.do("PATCH", idPath("/users/%d", id2), map[string]any{"role": "viewer"}).wantErr(t, 409, "conflict")
	a2.do("DELETE", idPath("/users/%d", admin.ID), nil).want(t, 204)
}

func testUserNotFound(t *testing.T, f *fixture) {
	f.admin.do("GET", "/users/987654", nil).wantErr(t, 404, "not_found")
	f.admin.do("PATCH", "/users/987654", map[string]any{"display_name": "x"}).wantErr(t, 404, "not_found")
	f.admin.do("DELETE", "/users/987654", nil).wantErr(t, 404, "not_found")
	f.admin.do("POST", "/users/987654/password", map[string]any{}).wantErr(t, 404, "not_found")
	for _, p := range []string{"/users/0", "/users/-1", "/users/abc", "/users/1.5", "/users/99999999999999999999"} {
		if r := f.admin.do("GET", p, nil); r.Status < 400 || r.Status >= 500 || r.Status == 404 && r.code() != "not_found" {
			t.Errorf("GET %s: %d %s", p, r.Status, r.Raw)
		}
	}
}

func testPasswordReset(t *testing.T, f *fixture) {
	otto := f.users[bulwark.RoleOperator]
	old := f.password("otto")
	c1, c2 := f.loginAs(otto), f.loginAs(otto)
	tok := f.tokenClient(otto)
	// Weak chosen password: refused, nothing changed.
	f.admin.do("POST", idPath("/users/%d/password", otto.ID), map[string]any{"new_password": "short"}).wantErr(t, 422, "validation_failed", "new_password")
	c1.do("GET", "/auth/me", nil).want(t, 200)
	r := f.admin.do("POST", idPath("/users/%d/password", otto.ID), map[string]any{}).want(t, 200)
	pw := r.str("initial_password")
	if len(pw) != 20 {
		t.Fatalf("reset: %s", r.Raw)
	}
	f.setPassword("otto", pw)
	c1.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	c2.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	tok.do("GET", "/auth/me", nil).want(t, 200)
	tok.do("GET", "/tokens", nil).wantErr(t, 403, "password_change_required")
	f.anon().do("POST", "/auth/login", loginBody("otto", old)).wantErr(t, 401, "unauthenticated")
	c := f.login("otto", pw)
	if r := c.do("GET", "/auth/me", nil); r.get("user", "must_change_password") != true {
		t.Errorf("after a reset the user must change the password: %s", r.Raw)
	}
	// A chosen password is not echoed back.
	chosen := "Admin-chosen-passphrase-55"
	f.secret(chosen)
	r = f.admin.do("POST", idPath("/users/%d/password", otto.ID), map[string]any{"new_password": chosen}).want(t, 200)
	if r.get("initial_password") != nil {
		t.Errorf("chosen password echoed: %s", r.Raw)
	}
	f.login("otto", chosen)
}

func testUnlock(t *testing.T, f *fixture) {
	otto := f.users[bulwark.RoleOperator]
	for range 5 {
		f.anon().do("POST", "/auth/login", loginBody("otto", "Wrong-otto-password-1")).wantErr(t, 401, "unauthenticated")
	}
	f.anon().do("POST", "/auth/login", loginBody("otto", f.password("otto"))).wantErr(t, 429, "rate_limited")
	r := f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{"unlock": true}).want(t, 200)
	if r.get("locked_until") != nil {
		t.Errorf("unlock response still locked: %s", r.Raw)
	}
	if u := f.user(otto.ID); u.LockedUntil != nil || u.FailedLogins != 0 {
		t.Errorf("unlock: %+v", u)
	}
	f.loginAs(otto)
	// Unlocking an unlocked user changes nothing.
	mark := f.auditMark()
	f.admin.do("PATCH", idPath("/users/%d", otto.ID), map[string]any{"unlock": true}).want(t, 200)
	if rows := f.auditAfter(mark); len(rows) != 0 {
		t.Errorf("no-op unlock wrote audit rows: %+v", rows)
	}
	// A password reset also clears a lock.
	for range 5 {
		f.anon().do("POST", "/auth/login", loginBody("otto", "Wrong-otto-password-1")).wantErr(t, 401, "unauthenticated")
	}
	pw := f.admin.do("POST", idPath("/users/%d/password", otto.ID), map[string]any{}).want(t, 200).str("initial_password")
	f.setPassword("otto", pw)
	f.login("otto", pw)
}

// Two admins demoting each other at once: exactly one wins, one admin remains.
func testConcurrentDemotion(t *testing.T, f *fixture) {
	f.admin.do("POST", "/users", map[string]any{"username": "admin2", "role": "admin", "password": "Admin2-passphrase-xyz", "must_change_password": false}).want(t, 201)
	f.setPassword("admin2", "Admin2-passphrase-xyz")
	a2 := f.login("admin2", "Admin2-passphrase-xyz")
	u2, _ := f.db.GetUserByUsername(t.Context(), "admin2")
	for round := range 3 {
		var wg sync.WaitGroup
		st := make([]int, 2)
		for i, c := range []*client{f.admin, a2} {
			target := []int64{u2.ID, f.adminUser.ID}[i]
			wg.Go(func() {
				st[i] = c.do("PATCH", idPath("/users/%d", target), map[string]any{"role": "operator"}).Status
			})
		}
		wg.Wait()
		admins := 0
		us, _ := f.db.ListUsers(t.Context())
		for _, u := range us {
			if u.Role == bulwark.RoleAdmin && !u.Disabled {
				admins++
			}
		}
		// The loser gets 409 from the last-admin guard, or 403 when it was
		// already demoted by the time its request was authorised.
		lost := func(s int) bool { return s == 409 || s == 403 }
		if admins != 1 || !(st[0] == 200 && lost(st[1]) || lost(st[0]) && st[1] == 200) {
			t.Fatalf("round %d: statuses %v, %d enabled admins; want one 200, one refused, one admin", round, st, admins)
		}
		// Restore both as admins for the next round (through the store).
		for _, id := range []int64{f.adminUser.ID, u2.ID} {
			u := f.user(id)
			u.Role = bulwark.RoleAdmin
			if err := f.db.UpdateUser(t.Context(), u); err != nil {
				t.Fatal(err)
			}
		}
	}
}
