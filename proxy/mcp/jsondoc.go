package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/bulwarkhq/bulwark"
)

// maxJSONDepth bounds the nesting of arguments and results the gateway
// walks; deeper documents are refused rather than scanned partially.
const maxJSONDepth = 64

// jsonDoc exposes every string value of a JSON document (or of one member
// of it) as a text to scan, with its path, and re-encodes the document when
// a text was replaced. It implements inspect.Doc.
type jsonDoc struct {
	surface  bulwark.Surface
	root     any
	parts    []jsonPart
	modified bool
}

type jsonPart struct {
	path string
	text string
	set  func(string)
}

// newJSONDoc decodes data; when member is set only that member of the
// top-level object is walked (tools/call params: "arguments").
func newJSONDoc(data json.RawMessage, member string, surface bulwark.Surface) (*jsonDoc, error) {
	d := &jsonDoc{surface: surface}
	if len(bytes.TrimSpace(data)) == 0 {
		return d, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&d.root); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if member != "" {
		obj, ok := d.root.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("params must be a JSON object")
		}
		v, ok := obj[member]
		if !ok {
			return d, nil
		}
		return d, d.walk(v, member, 0, func(nv any) { obj[member] = nv })
	}
	return d, d.walk(d.root, "", 0, func(nv any) { d.root = nv })
}

func (d *jsonDoc) walk(v any, path string, depth int, set func(any)) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	switch x := v.(type) {
	case string:
		d.parts = append(d.parts, jsonPart{path: path, text: x, set: func(s string) { set(s) }})
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := d.walk(x[k], joinKey(path, k), depth+1, func(nv any) { x[k] = nv }); err != nil {
				return err
			}
		}
	case []any:
		for i := range x {
			if err := d.walk(x[i], path+"["+strconv.Itoa(i)+"]", depth+1, func(nv any) { x[i] = nv }); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinKey(base, k string) string {
	if base == "" {
		return k
	}
	return base + "." + k
}

func (d *jsonDoc) Len() int { return len(d.parts) }

func (d *jsonDoc) Part(i int) (string, bulwark.Surface, string) {
	return d.parts[i].path, d.surface, d.parts[i].text
}

func (d *jsonDoc) SetText(i int, s string) {
	d.parts[i].text = s
	d.parts[i].set(s)
	d.modified = true
}

func (d *jsonDoc) Modified() bool { return d.modified }

func (d *jsonDoc) Encode() (json.RawMessage, error) { return json.Marshal(d.root) }
