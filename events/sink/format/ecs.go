package format

import (
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// ECSVersion is the ECS release the ecs format follows.
const ECSVersion = "8.11.0"

// ecs maps ev onto Elastic Common Schema fields. Fields ECS has no place
// for go under "bulwark" (event_type, severity, category, actor and the
// rest of the data under bulwark.data), which an index template should map
// as flattened: its keys differ between event types.
func ecs(ev *bulwark.Event) map[string]any {
	d := dataOf(ev)
	out := map[string]any{
		"@timestamp": ev.Time.UTC().Format(time.RFC3339Nano),
		"ecs":        map[string]any{"version": ECSVersion},
	}
	put(out, "message", ev.Subject)

	event := map[string]any{
		"kind":     "event",
		"severity": ev.Severity.Rank(),
		"dataset":  "bulwark." + string(ev.Type),
		"module":   "bulwark",
	}
	put(event, "id", ev.ID)
	put(event, "action", ev.Action)

	user := map[string]any{}
	source := map[string]any{}
	labels := map[string]any{}
	var category, typ []string

	switch ev.Type {
	case bulwark.EventAlert:
		event["kind"] = "alert"
		category = []string{"intrusion_detection"}
		act := d.take("action")
		if act == "" {
			act = verb(ev.Action)
		}
		switch act {
		case string(bulwark.ActionBlock):
			typ = []string{"denied"}
		case string(bulwark.ActionRedact), string(bulwark.ActionMonitor):
			typ = []string{"allowed"}
		default:
			typ = []string{"info"}
		}
		rule := map[string]any{}
		put(rule, "id", d.take("rule_id"))
		put(rule, "name", d.take("title"))
		put(rule, "ruleset", d.take("policy"))
		put(rule, "category", ev.Category)
		put(out, "rule", rule)
		name := d.take("user", "user_name")
		if name == "" && strings.HasPrefix(ev.Action, "policy.") {
			name = ev.Actor
		}
		put(user, "name", name)
		put(user, "email", d.take("user_email", "email"))
		if g := d.take("group"); g != "" {
			user["group"] = map[string]any{"name": g}
		}
		put(labels, "proxy", d.take("proxy"))
		put(labels, "target", d.take("target", "model", "tool"))
		if act != "" {
			labels["action"] = act
		}
	case bulwark.EventAuth:
		category, typ = []string{"authentication"}, []string{"info"}
		switch ev.Action {
		case "auth.login":
			typ = []string{"start"}
		case "auth.logout":
			typ = []string{"end"}
		}
		put(user, "name", ev.Actor)
	case bulwark.EventConfig:
		category, typ = []string{"configuration"}, []string{"change"}
		switch verb(ev.Action) {
		case "create":
			typ = []string{"creation"}
		case "delete":
			typ = []string{"deletion"}
		}
		put(user, "name", ev.Actor)
	case bulwark.EventProxyStatus:
		typ = []string{lifecycle(verb(ev.Action), "start", "end", "error", "change")}
		put(labels, "proxy", d.take("proxy"))
	case bulwark.EventSystem:
		typ = []string{lifecycle(verb(ev.Action), "start", "end", "error", "info")}
	case bulwark.EventIntegrationHealth:
		typ = []string{"info"}
	}
	if ev.Type == bulwark.EventAuth || ev.Type == bulwark.EventConfig {
		switch r, _ := d["result"].(string); r {
		case bulwark.ResultSuccess:
			event["outcome"] = "success"
		case bulwark.ResultFailure, bulwark.ResultDenied:
			event["outcome"] = "failure"
		}
	}
	put(event, "category", category)
	put(event, "type", typ)
	out["event"] = event
	put(source, "ip", ip(d.take("source_ip", "client_ip")))
	put(out, "user", user)
	put(out, "source", source)
	put(out, "labels", labels)
	out["observer"] = map[string]any{"vendor": Vendor, "product": Product, "version": Version}

	vendor := map[string]any{"event_type": string(ev.Type), "severity": string(ev.Severity)}
	put(vendor, "category", ev.Category)
	put(vendor, "actor", ev.Actor)
	put(vendor, "data", d)
	out["bulwark"] = vendor
	return out
}

// lifecycle maps a running/stopped/error verb (proxy states, system.start…)
// onto the given names, other for anything else.
func lifecycle(v, start, end, failed, other string) string {
	switch v {
	case "running", "start", "started":
		return start
	case "stopped", "stop":
		return end
	case "error", "failed":
		return failed
	}
	return other
}
