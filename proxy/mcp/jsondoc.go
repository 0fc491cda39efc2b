package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	segjson "github.com/segmentio/encoding/json"

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
	if err := decodeValue(data, &d.root); err != nil {
		return nil, err
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

// newJSONDocAt decodes data, a member of a larger document at path (the
// paths of its texts start with it).
func newJSONDocAt(data json.RawMessage, path string, surface bulwark.Surface) (*jsonDoc, error) {
	d := &jsonDoc{surface: surface}
	if len(bytes.TrimSpace(data)) == 0 {
		return d, nil
	}
	if err := decodeValue(data, &d.root); err != nil {
		return nil, err
	}
	return d, d.walk(d.root, path, 0, func(nv any) { d.root = nv })
}

// decodeValue decodes the first JSON value of data, numbers as written
// (json.Number). It uses the go-sdk's decoder, which reads strings as the
// standard library does (invalid UTF-8 and lone surrogates as U+FFFD) at a
// fraction of its cost.
func decodeValue(data []byte, v *any) error {
	if _, err := segjson.Parse(data, v, segjson.UseNumber); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
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
