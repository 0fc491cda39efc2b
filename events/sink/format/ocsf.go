package format

import (
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// OCSFVersion is the OCSF schema release the ocsf format follows.
const OCSFVersion = "1.3.0"

// OCSF classes used, by event type:
//   - alert: Detection Finding (2004, category 2 Findings), activity Create;
//   - auth: Authentication (3002, category 3 Identity & Access Management),
//     activity Logon (auth.login), Logoff (auth.logout) or Other;
//   - proxy_status and system: Application Lifecycle (6002, category 6
//     Application Activity), activity Start, Stop or Other;
//   - config and integration_health: Base Event (0): OCSF has no class for
//     an application's own configuration audit or a delivery channel's
//     health, and a wrong specific class misleads more than none.
const (
	classDetectionFinding = 2004
	classAuthentication   = 3002
	classAppLifecycle     = 6002
	classBase             = 0
)

var severityIDs = map[bulwark.Severity]int{
	bulwark.SeverityInfo: 1, bulwark.SeverityLow: 2, bulwark.SeverityMedium: 3,
	bulwark.SeverityHigh: 4, bulwark.SeverityCritical: 5,
}

var severityNames = []string{"Unknown", "Informational", "Low", "Medium", "High", "Critical"}

// ocsf maps ev onto an OCSF event. Data OCSF has no attribute for goes to
// "unmapped", with the Bulwark event type, severity, category and actor.
func ocsf(ev *bulwark.Event) map[string]any {
	d := dataOf(ev)
	ms := ev.Time.UnixMilli()
	sev := severityIDs[ev.Severity]
	out := map[string]any{
		"time":        ms,
		"severity_id": sev,
		"severity":    severityNames[sev],
		"metadata": map[string]any{
			"uid":     ev.ID,
			"version": OCSFVersion,
			"product": map[string]any{"name": Product, "vendor_name": Vendor, "version": Version},
		},
	}
	if ev.Action != "" {
		out["metadata"].(map[string]any)["event_code"] = ev.Action
	}
	put(out, "message", ev.Subject)

	var class, activity int
	var activityName string
	switch ev.Type {
	case bulwark.EventAlert:
		class, activity, activityName = classDetectionFinding, 1, "Create"
		out["category_uid"], out["category_name"], out["class_name"] = 2, "Findings", "Detection Finding"
		out["status_id"], out["status"] = 1, "New"
		title := d.take("title")
		if title == "" {
			title = ev.Subject
		}
		info := map[string]any{"uid": ev.ID, "created_time": ms}
		put(info, "title", title)
		put(info, "desc", ev.Subject)
		if ev.Category != "" {
			info["types"] = []string{ev.Category}
		}
		if rule := d.take("rule_id"); rule != "" {
			analytic := map[string]any{"uid": rule, "type_id": 1, "type": "Rule"}
			put(analytic, "name", title)
			put(analytic, "category", d.take("policy"))
			info["analytic"] = analytic
		}
		out["finding_info"] = info
		act := d.take("action")
		if act == "" {
			act = verb(ev.Action)
		}
		switch act {
		case string(bulwark.ActionBlock):
			out["action_id"], out["action"], out["disposition_id"], out["disposition"] = 2, "Denied", 2, "Blocked"
		case string(bulwark.ActionMonitor):
			out["action_id"], out["action"], out["disposition_id"], out["disposition"] = 1, "Allowed", 1, "Allowed"
		case string(bulwark.ActionRedact):
			out["action_id"], out["action"], out["disposition_id"], out["disposition"] = 1, "Allowed", 99, "Redacted"
		}
		name := d.take("user", "user_name")
		if name == "" && strings.HasPrefix(ev.Action, "policy.") {
			name = ev.Actor
		}
		user := map[string]any{}
		put(user, "name", name)
		put(user, "email_addr", d.take("user_email", "email"))
		if g := d.take("group"); g != "" {
			user["groups"] = []any{map[string]any{"name": g}}
		}
		if len(user) > 0 {
			out["actor"] = map[string]any{"user": user}
		}
		// The request's target (model, tool, upstream) on its proxy.
		resource := map[string]any{}
		put(resource, "name", d.take("target", "model", "tool"))
		if p := d.take("proxy"); p != "" {
			resource["group"] = map[string]any{"name": p}
		}
		if len(resource) > 0 {
			out["resources"] = []any{resource}
		}
	case bulwark.EventAuth:
		class = classAuthentication
		out["category_uid"], out["category_name"], out["class_name"] = 3, "Identity & Access Management", "Authentication"
		switch ev.Action {
		case "auth.login":
			activity, activityName = 1, "Logon"
		case "auth.logout":
			activity, activityName = 2, "Logoff"
		default:
			activity, activityName = 99, ev.Action
		}
		out["user"] = map[string]any{"name": ev.Actor}
		status(out, d)
	case bulwark.EventProxyStatus, bulwark.EventSystem:
		class = classAppLifecycle
		out["category_uid"], out["category_name"], out["class_name"] = 6, "Application Activity", "Application Lifecycle"
		switch lifecycle(verb(ev.Action), "start", "stop", "error", "") {
		case "start":
			activity, activityName = 3, "Start"
		case "stop":
			activity, activityName = 4, "Stop"
		case "error":
			activity, activityName = 99, "Error"
			out["status_id"], out["status"] = 2, "Failure"
		default:
			activity, activityName = 99, ev.Action
		}
		app := map[string]any{"name": Product, "vendor_name": Vendor, "version": Version}
		if p := d.take("proxy"); p != "" {
			app = map[string]any{"name": p, "vendor_name": Vendor, "feature": map[string]any{"name": "proxy"}}
		}
		out["app"] = app
	default:
		class, activity, activityName = classBase, 99, ev.Action
		out["category_uid"], out["category_name"], out["class_name"] = 0, "Uncategorized", "Base Event"
		status(out, d)
	}
	out["class_uid"] = class
	out["activity_id"] = activity
	put(out, "activity_name", activityName)
	out["type_uid"] = class*100 + activity
	if src := ip(d.take("source_ip", "client_ip")); src != "" {
		out["src_endpoint"] = map[string]any{"ip": src}
	}
	unmapped := map[string]any{"event_type": string(ev.Type), "severity": string(ev.Severity)}
	put(unmapped, "category", ev.Category)
	put(unmapped, "actor", ev.Actor)
	put(unmapped, "data", d)
	out["unmapped"] = unmapped
	return out
}

// status sets status_id from an audit result (success, failure, denied).
func status(out map[string]any, d data) {
	switch r, _ := d["result"].(string); r {
	case bulwark.ResultSuccess:
		out["status_id"], out["status"] = 1, "Success"
	case bulwark.ResultFailure, bulwark.ResultDenied:
		out["status_id"], out["status"] = 2, "Failure"
	}
}
