package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

func TestDashboard(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		e := newTestServer(t, withStore(open))
		viewer := e.createUser("dash", bulwark.RoleViewer)
		vc := e.loginAs(viewer)
		e.anon().do("POST", "/auth/login", loginBody("dash", "wrong-password-123456")).want(t, 401)

		ctx := context.Background()
		for _, sev := range []bulwark.Severity{bulwark.SeverityCritical, bulwark.SeverityHigh, bulwark.SeverityHigh, bulwark.SeverityLow} {
			ev := &bulwark.Event{Time: e.clock.Now(), Type: bulwark.EventAlert, Severity: sev, Action: "blocked"}
			if err := e.db.RecordEvent(ctx, ev, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			ev := &bulwark.Event{Time: e.clock.Now(), Type: bulwark.EventRequest, Severity: bulwark.SeverityInfo, Action: "request.allowed"}
			if err := e.db.RecordEvent(ctx, ev, nil, nil); err != nil {
				t.Fatal(err)
			}
		}

		r := vc.do("GET", "/dashboard", nil).want(t, 200)
		if r.str("range") != "24h" || r.num("step_seconds") != 3600 || len(r.list("series")) != 24 {
			t.Fatalf("range %q step %d buckets %d", r.str("range"), r.num("step_seconds"), len(r.list("series")))
		}
		for k, want := range map[string]int64{"requests": 3, "blocked": 4, "alerts": 4, "logins_ok": 2, "logins_failed": 1} {
			if got := r.num("totals", k); got != want {
				t.Errorf("totals.%s = %d, want %d", k, got, want)
			}
		}
		for k, want := range map[string]int64{"critical": 1, "high": 2, "medium": 0, "low": 1} {
			if got := r.num("totals", "alerts_by_severity", k); got != want {
				t.Errorf("alerts_by_severity.%s = %d, want %d", k, got, want)
			}
		}
		last := r.list("series")[23].(map[string]any)
		if last["alerts"].(float64) != 4 {
			t.Errorf("newest bucket %v", last)
		}
		if len(r.list("recent_audit")) == 0 || r.str("recent_audit", 0, "action") != "auth.login" {
			t.Errorf("recent audit %v", r.get("recent_audit"))
		}

		for _, rng := range []string{"7d", "30d"} {
			r := vc.do("GET", "/dashboard?range="+rng, nil).want(t, 200)
			if r.num("totals", "alerts") != 4 {
				t.Errorf("%s: alerts %d", rng, r.num("totals", "alerts"))
			}
		}
		vc.do("GET", "/dashboard?range=1y", nil).wantErr(t, http.StatusUnprocessableEntity, "validation_failed")
		e.anon().do("GET", "/dashboard", nil).wantErr(t, http.StatusUnauthorized, "unauthenticated")
	})
}
