package integrations

import (
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// Field types of a KindField.
const (
	FieldString   = "string"   // one line of text
	FieldText     = "text"     // several lines (PEM certificates)
	FieldInt      = "int"      // whole number
	FieldBool     = "bool"     // on or off
	FieldList     = "list"     // list of strings
	FieldMap      = "map"      // string keys to string values (headers)
	FieldDuration = "duration" // nanoseconds in the JSON settings
)

// KindField is one setting or secret of an integration kind, derived from
// the sink's Config so forms follow the code.
type KindField struct {
	// Name is the JSON name; fields of nested objects are dotted
	// ("tls.insecure_skip_verify").
	Name     string   `json:"name"`
	Type     string   `json:"type" enum:"string,text,int,bool,list,map,duration"`
	Secret   bool     `json:"secret,omitempty" doc:"Write-only: sent in secrets, never returned"`
	Required bool     `json:"required,omitempty"`
	Options  []string `json:"options,omitempty" doc:"The allowed values"`
	Help     string   `json:"help,omitempty"`
}

// KindInfo describes one integration kind.
type KindInfo struct {
	Kind   string      `json:"kind"`
	Fields []KindField `json:"fields"`
}

// commonHelp explains fields the sinks share (events/sink/wire). Help of
// a kind's own fields comes from a help:"…" tag on its Config.
var commonHelp = map[string]string{
	"timeout":                  "Bound of one request (default 10 s).",
	"tls.insecure_skip_verify": "Accept any certificate. For tests and labs only.",
	"tls.ca_pem":               "PEM certificates trusted in addition to the system roots (a private CA).",
}

// multiline names string fields shown as a text area.
var multiline = map[string]bool{"tls.ca_pem": true, "secret_headers": true}

// Describe lists every registered kind (in bulwark.IntegrationKinds order,
// then any other registered kind by name) with its fields read from the
// sink's Config: JSON names and Go types, secret fields from the registry,
// options from an enum:"a,b" tag, help from a help:"…" tag. A top-level
// field without omitempty (other than a bool or an object) is required, as
// every sink's Validate has it; a required:"true" or required:"false" tag
// overrides that.
func Describe() []KindInfo {
	names := make([]bulwark.IntegrationKind, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b bulwark.IntegrationKind) int {
		ia, ib := slices.Index(bulwark.IntegrationKinds, a), slices.Index(bulwark.IntegrationKinds, b)
		if ia < 0 {
			ia = len(bulwark.IntegrationKinds)
		}
		if ib < 0 {
			ib = len(bulwark.IntegrationKinds)
		}
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(string(a), string(b))
	})
	out := make([]KindInfo, 0, len(names))
	for _, name := range names {
		k := kinds[name]
		info := KindInfo{Kind: string(name), Fields: []KindField{}}
		if k.build.config != nil {
			info.Fields = describeStruct(k.build.config, "", k.secrets)
		}
		out = append(out, info)
	}
	return out
}

var durationType = reflect.TypeFor[time.Duration]()

func describeStruct(t reflect.Type, prefix string, secrets []string) []KindField {
	var out []KindField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		if prefix == "" && name == "name" {
			continue // the integration's own name, set outside settings
		}
		full := prefix + name
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			out = append(out, describeStruct(ft, full+".", nil)...)
			continue
		}
		kf := KindField{Name: full, Type: fieldType(ft), Secret: prefix == "" && slices.Contains(secrets, name)}
		if kf.Type == "" {
			continue // a type forms cannot edit; the API still takes it
		}
		if kf.Type == FieldString && multiline[full] {
			kf.Type = FieldText
		}
		kf.Required = prefix == "" && !strings.Contains(","+opts+",", ",omitempty,") && kf.Type != FieldBool
		switch f.Tag.Get("required") {
		case "true":
			kf.Required = true
		case "false":
			kf.Required = false
		}
		if e := f.Tag.Get("enum"); e != "" {
			kf.Options = strings.Split(e, ",")
		}
		kf.Help = f.Tag.Get("help")
		if kf.Help == "" {
			kf.Help = commonHelp[full]
		}
		out = append(out, kf)
	}
	return out
}

func fieldType(t reflect.Type) string {
	if t == durationType {
		return FieldDuration
	}
	switch t.Kind() {
	case reflect.String:
		return FieldString
	case reflect.Bool:
		return FieldBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return FieldInt
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return FieldList
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String {
			return FieldMap
		}
	}
	return ""
}
