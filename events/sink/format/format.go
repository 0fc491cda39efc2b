// Package format owns the event body formats a sink can send: native (the
// documented wire.Envelope), ecs (Elastic Common Schema fields) and ocsf
// (Open Cybersecurity Schema Framework 1.3 classes). It maps the alert
// fields carried in an event's Data (title, rule_id, policy, user,
// user_email, group, source_ip, proxy, target…) onto each schema and keeps
// the rest under a vendor key, so nothing is lost.
package format

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Formats.
const (
	Native = "native"
	ECS    = "ecs"
	OCSF   = "ocsf"
)

// Formats lists every format, for validation messages.
var Formats = []string{Native, ECS, OCSF}

// Product names Bulwark in the ECS observer and OCSF metadata.product.
const (
	Vendor  = "Bulwark"
	Product = "Bulwark Gateway"
)

// Version is the product version written in bodies; the main module's
// version when built from a tagged module, else "dev". Tests pin it.
var Version = moduleVersion()

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Validate checks a format setting; field names it in the error. "" is
// allowed (the sink's default).
func Validate(field, f string) error {
	if f == "" || slices.Contains(Formats, f) {
		return nil
	}
	return fmt.Errorf("%s must be one of %s, got %q", field, strings.Join(Formats, ", "), f)
}

// Body returns ev in format f ("" is native), ready for json.Marshal.
func Body(f string, ev *bulwark.Event) (any, error) {
	switch f {
	case "", Native:
		return wire.EnvelopeOf(ev), nil
	case ECS:
		return ecs(ev), nil
	case OCSF:
		return ocsf(ev), nil
	}
	return nil, fmt.Errorf("unknown event format %q (want one of %s)", f, strings.Join(Formats, ", "))
}

// Marshal is Body encoded as JSON.
func Marshal(f string, ev *bulwark.Event) ([]byte, error) {
	b, err := Body(f, ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

// data is an event's Data as an object; Data that is not a JSON object is
// kept whole under "value" so it still reaches the receiver.
type data map[string]any

func dataOf(ev *bulwark.Event) data {
	d := data{}
	if len(ev.Data) == 0 {
		return d
	}
	if err := json.Unmarshal(ev.Data, &d); err != nil || d == nil {
		d = data{}
		var v any
		if json.Unmarshal(ev.Data, &v) == nil {
			if v != nil {
				d["value"] = v
			}
		} else {
			d["value"] = string(ev.Data)
		}
	}
	return d
}

// take returns the first non-empty string among keys and removes every one
// of them from d, so the rest can be carried under the vendor key.
func (d data) take(keys ...string) string {
	out := ""
	for _, k := range keys {
		if s, ok := d[k].(string); ok {
			if out == "" && s != "" {
				out = s
			}
			delete(d, k)
		}
	}
	return out
}

// ip returns s when it is an IP address (a SIEM's ip field rejects
// anything else), and "" otherwise.
func ip(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return a.String()
}

// put sets m[k] = v unless v is empty (""/nil/empty map or slice).
func put(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case map[string]any:
		if len(x) == 0 {
			return
		}
	case data:
		if len(x) == 0 {
			return
		}
	case []string:
		if len(x) == 0 {
			return
		}
	case []any:
		if len(x) == 0 {
			return
		}
	}
	m[k] = v
}

// verb is the part of an action after its last dot ("policy.block" → "block").
func verb(action string) string {
	if i := strings.LastIndexByte(action, '.'); i >= 0 {
		return action[i+1:]
	}
	return action
}
