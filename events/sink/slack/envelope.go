package slack

import (
	"encoding/json"

	"github.com/bulwarkhq/bulwark"
)

// fields decodes the event's Data object, or nil when it is not an object.
func fields(ev *bulwark.Event) map[string]any {
	var m map[string]any
	if len(ev.Data) == 0 || json.Unmarshal(ev.Data, &m) != nil {
		return nil
	}
	return m
}
