package siem

import (
	"strings"
	"testing"
)

func TestTeamsRejectsBadCards(t *testing.T) {
	tm := NewTeams("/wf", "s")
	hdr := map[string]string{"Content-Type": "application/json"}
	card := func(body string) string {
		return `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,` +
			`"content":{"type":"AdaptiveCard","version":"1.4","body":[` + body + `]}}]}`
	}
	for name, body := range map[string]string{
		"not a message": `{"type":"card","attachments":[]}`,
		"no body":       card(``),
		"bad colour":    card(`{"type":"TextBlock","text":"x","color":"Red"}`),
		"empty text":    card(`{"type":"TextBlock","text":" "}`),
		"empty facts":   card(`{"type":"FactSet","facts":[]}`),
		"unknown elem":  card(`{"type":"Image","url":"x"}`),
		"old version":   strings.Replace(card(`{"type":"TextBlock","text":"x"}`), `"1.4"`, `"2.0"`, 1),
		"thumbnail":     strings.Replace(card(`{"type":"TextBlock","text":"x"}`), "adaptive", "thumbnail", 1),
	} {
		if w := post(t, tm, "/wf?sig=s", hdr, body); w.Code != 400 {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	ok := card(`{"type":"TextBlock","text":"x","color":"Attention","size":"Large","weight":"Bolder"},{"type":"FactSet","facts":[{"title":"a","value":"b"}]}`)
	if w := post(t, tm, "/wf?sig=s", hdr, ok); w.Code != 202 {
		t.Fatalf("valid: %d %s", w.Code, w.Body)
	}
	if w := post(t, tm, "/wf?sig=x", hdr, ok); w.Code != 401 {
		t.Fatalf("bad sig: %d", w.Code)
	}
	big := card(`{"type":"TextBlock","text":"` + strings.Repeat("x", 29<<10) + `"}`)
	if w := post(t, tm, "/wf?sig=s", hdr, big); w.Code != 413 {
		t.Fatalf("big: %d", w.Code)
	}
	if len(tm.Messages()) != 1 {
		t.Fatal(tm.Errors())
	}
}
