package detect

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect/rules"
)

// schemaValidator checks a document against the subset of JSON Schema
// 2020-12 that docs/policy.schema.json uses.
type schemaValidator struct{ root map[string]any }

func (v *schemaValidator) validate(s map[string]any, doc any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		return v.validate(v.root["$defs"].(map[string]any)[name].(map[string]any), doc, path)
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == doc {
				found = true
			}
		}
		if !found {
			fail("%v not in enum", doc)
		}
	}
	switch t, _ := s["type"].(string); t {
	case "object":
		m, ok := doc.(map[string]any)
		if !ok {
			fail("want object")
			return errs
		}
		for _, r := range asList(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				fail("missing required %q", r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if pn, ok := s["propertyNames"].(map[string]any); ok {
				errs = append(errs, v.validate(pn, k, path+"."+k+"(name)")...)
			}
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, v.validate(ps, m[k], path+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("unknown property %q", k)
				}
			case map[string]any:
				errs = append(errs, v.validate(ap, m[k], path+"."+k)...)
			}
		}
	case "array":
		a, ok := doc.([]any)
		if !ok {
			fail("want array")
			return errs
		}
		if n, ok := s["minItems"].(float64); ok && len(a) < int(n) {
			fail("fewer than %v items", n)
		}
		if n, ok := s["maxItems"].(float64); ok && len(a) > int(n) {
			fail("more than %v items", n)
		}
		if is, ok := s["items"].(map[string]any); ok {
			for i, e := range a {
				errs = append(errs, v.validate(is, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case "string":
		str, ok := doc.(string)
		if !ok {
			fail("want string")
			return errs
		}
		if n, ok := s["minLength"].(float64); ok && utf8.RuneCountInString(str) < int(n) {
			fail("shorter than %v", n)
		}
		if n, ok := s["maxLength"].(float64); ok && utf8.RuneCountInString(str) > int(n) {
			fail("longer than %v", n)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	case "number":
		n, ok := doc.(float64)
		if !ok {
			fail("want number")
			return errs
		}
		if m, ok := s["minimum"].(float64); ok && n < m {
			fail("below %v", m)
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			fail("above %v", m)
		}
	case "boolean":
		if _, ok := doc.(bool); !ok {
			fail("want boolean")
		}
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }

func loadSchema(t *testing.T) *schemaValidator {
	t.Helper()
	data, err := os.ReadFile("../docs/policy.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatal("schema must declare JSON Schema 2020-12")
	}
	return &schemaValidator{root: root}
}

// TestPolicySchema validates every built-in and test policy against
// docs/policy.schema.json, and checks the schema's enums match the code.
func TestPolicySchema(t *testing.T) {
	v := loadSchema(t)
	docs := map[string][]byte{}
	names, _ := fs.Glob(rules.FS, "*.json")
	for _, n := range names {
		docs["rules/"+n], _ = fs.ReadFile(rules.FS, n)
	}
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		docs[f], _ = os.ReadFile(f)
	}
	for name, data := range docs {
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, e := range v.validate(v.root, doc, "$") {
			t.Errorf("%s: %s", name, e)
		}
	}
	// A document with an unknown field and a bad enum fails: the validator can fail.
	var bad any
	_ = json.Unmarshal([]byte(`{"name":"x1","version":"1.0.0","description":"d","colour":1,"rules":[{"id":"A-001","title":"t","description":"d","category":"Nope","kind":"pii","severity":"low","action":"block","examples":{"match":["a"],"no_match":["b"]}}]}`), &bad)
	errs := strings.Join(v.validate(v.root, bad, "$"), "\n")
	if !strings.Contains(errs, `unknown property "colour"`) || !strings.Contains(errs, "$.rules[0].category") {
		t.Fatalf("validator missed errors: %s", errs)
	}
	// Enums in the schema match the Go constants.
	defs := v.root["$defs"].(map[string]any)
	rule := defs["rule"].(map[string]any)["properties"].(map[string]any)
	check := func(what string, enum []any, want []string) {
		got := make([]string, len(enum))
		for i, e := range enum {
			got[i] = e.(string)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("schema %s enum %v, code has %v", what, got, want)
		}
	}
	check("category", asList(rule["category"].(map[string]any)["enum"]), strs(bulwark.Categories))
	check("kind", asList(rule["kind"].(map[string]any)["enum"]), strs(bulwark.Kinds))
	check("surface", asList(rule["surfaces"].(map[string]any)["items"].(map[string]any)["enum"]), strs(bulwark.Surfaces))
	check("action", asList(defs["action"].(map[string]any)["enum"]), strs(bulwark.Actions))
}

func strs[T ~string](l []T) []string {
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = string(x)
	}
	return out
}
