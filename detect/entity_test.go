package detect

import (
	"context"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

func TestEntityRules(t *testing.T) {
	reg, err := BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reg.Resolve("llm-data-redaction")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for id := range EntityRules {
		if _, ok := e.byID[id]; !ok {
			t.Fatalf("entity rule %s is not in the built-in policies", id)
		}
	}
	text := "Follow up with Colleen Wiley: she moved here from Küsnacht and works for Geoscape. I work for Geoscape too."
	res, err := e.ScanText(context.Background(), text, bulwark.ProtocolLLM, bulwark.SurfacePrompt)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PII-026": "Colleen Wiley", "PII-027": "Küsnacht", "PII-028": "Geoscape"}
	for _, f := range res.Findings {
		if w, ok := want[f.RuleID]; ok {
			if got := text[f.Start:f.End]; got != w {
				t.Errorf("%s: span %q, want %q", f.RuleID, got, w)
			}
			if f.Kind != bulwark.KindPII || f.Action != bulwark.ActionRedact {
				t.Errorf("%s: %+v", f.RuleID, f)
			}
			delete(want, f.RuleID)
		}
	}
	if len(want) > 0 {
		t.Fatalf("missing %v in %+v", want, res.Findings)
	}
	out, _ := e.Redact(text, bulwark.ProtocolLLM, bulwark.SurfacePrompt, NewMasker())
	if wantOut := "Follow up with <PERSON_1>: she moved here from <LOCATION_1> and works for <ORG_1>. I work for <ORG_1> too."; out != wantOut {
		t.Fatalf("redacted:\n got %q\nwant %q", out, wantOut)
	}
	// Plain technical text: the gate hits (capitalised words) but the
	// detector reports nothing.
	res, _ = e.ScanText(context.Background(), "Install Docker, then run the Python tests in CI.", bulwark.ProtocolLLM, bulwark.SurfacePrompt)
	for _, f := range res.Findings {
		if _, ok := EntityRules[f.RuleID]; ok {
			t.Fatalf("unexpected %+v", f)
		}
	}
}
