package integrations_test

import (
	"reflect"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/integrations"
)

func TestDescribeListsEveryKindWithItsFields(t *testing.T) {
	got := integrations.Describe()
	byKind := map[string]integrations.KindInfo{}
	for _, k := range got {
		byKind[k.Kind] = k
	}
	for _, k := range bulwark.IntegrationKinds {
		info, ok := byKind[string(k)]
		if !ok {
			t.Fatalf("kind %s is not described", k)
		}
		secrets := integrations.SecretFields(k)
		for _, s := range secrets {
			found := false
			for _, f := range info.Fields {
				if f.Name == s {
					found = true
					if !f.Secret {
						t.Errorf("%s.%s: not marked secret", k, s)
					}
				}
			}
			if !found {
				t.Errorf("%s: secret field %s is not described", k, s)
			}
		}
		for _, f := range info.Fields {
			if f.Name == "name" {
				t.Errorf("%s: the integration's name is not a setting", k)
			}
			if f.Type == "" {
				t.Errorf("%s.%s: no type", k, f.Name)
			}
		}
	}
	// Field shapes the console relies on, kept loose so new settings of
	// a kind do not break this test.
	cases := []struct {
		kind, field string
		want        integrations.KindField
	}{
		{"splunk", "url", integrations.KindField{Name: "url", Type: "string", Required: true}},
		{"splunk", "token", integrations.KindField{Name: "token", Type: "string", Secret: true, Required: true}},
		{"splunk", "max_batch", integrations.KindField{Name: "max_batch", Type: "int"}},
		{"webhook", "secrets", integrations.KindField{Name: "secrets", Type: "list", Secret: true, Required: true}},
		{"webhook", "headers", integrations.KindField{Name: "headers", Type: "map"}},
		{"slack", "timeout", integrations.KindField{Name: "timeout", Type: "duration", Help: "Bound of one request (default 10 s)."}},
		{"slack", "tls.insecure_skip_verify", integrations.KindField{Name: "tls.insecure_skip_verify", Type: "bool", Help: "Accept any certificate. For tests and labs only."}},
		{"slack", "tls.ca_pem", integrations.KindField{Name: "tls.ca_pem", Type: "text", Help: "PEM certificates trusted in addition to the system roots (a private CA)."}},
	}
	for _, tc := range cases {
		var got *integrations.KindField
		for n := range byKind[tc.kind].Fields {
			if byKind[tc.kind].Fields[n].Name == tc.field {
				got = &byKind[tc.kind].Fields[n]
			}
		}
		if got == nil {
			t.Errorf("%s: no field %s", tc.kind, tc.field)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s.%s = %+v, want %+v", tc.kind, tc.field, *got, tc.want)
		}
	}
	if got[0].Kind != string(bulwark.IntegrationKinds[0]) {
		t.Errorf("first kind %s, want %s (the root package's order)", got[0].Kind, bulwark.IntegrationKinds[0])
	}
}
